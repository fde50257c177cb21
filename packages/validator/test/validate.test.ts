import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { KeyringHotkeySigner } from "@grail/chain";
import { packageGroup } from "@grail/pipeline";
import { grpoAdvantages, type RolloutRecord } from "@grail/protocol";
import { windowFileMetadata, writeWindowFile } from "@grail/storage";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatReport, validateWindowFile, type WindowValidationInput } from "../src/index.js";

const WINDOW = 90;
const BLOCK_HASH = `0x${"ab".repeat(32)}`;
let work: string;
let bytes: Buffer;
let hotkey: string;

/**
 * A structurally valid file of one group (sketches and signatures are not from a model), with
 * `mutate` applied to its rows before writing.
 */
async function oneGroupFile(
  name = "window.parquet",
  mutate: (rows: RolloutRecord[]) => void = () => {},
): Promise<Buffer> {
  await cryptoWaitReady();
  const signer = new KeyringHotkeySigner(
    new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri("//GrailValidateTest"),
  );
  hotkey = signer.ss58;
  const rewards = Array.from({ length: 16 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const advantages = grpoAdvantages(rewards);
  const rows: RolloutRecord[] = packageGroup(
    {
      windowStart: WINDOW,
      blockHash: BLOCK_HASH,
      randomness: "cd".repeat(32),
      useDrand: false,
      checkpointWindow: 60,
      modelName: "m",
    },
    {
      groupIndex: 0,
      block: WINDOW + 1,
      rollouts: rewards.map((reward, i) => ({
        tokens: Array.from({ length: 48 }, (_, t) => (t * 7 + i) % 1000),
        promptLength: 8,
        reward,
        advantage: advantages[i]!,
        success: reward === 1,
        sVals: new Array(48).fill(5),
        logprobs: new Array(40).fill(-1),
        commitSignature: signer.sign(new Uint8Array(32)),
      })),
    },
    signer,
    1_700_000_000,
  );
  mutate(rows);
  const file = path.join(work, name);
  await writeWindowFile(
    rows,
    windowFileMetadata({
      hotkey,
      windowStart: WINDOW,
      rowCount: rows.length,
      timestampSeconds: 1_700_000_000,
    }),
    file,
  );
  return readFile(file);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "validate-test-"));
  bytes = await oneGroupFile();
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const input = (over: Partial<WindowValidationInput>): WindowValidationInput => ({
  hotkey,
  window: WINDOW,
  blockHash: BLOCK_HASH,
  challengeRandomness: "ef".repeat(32),
  file: { bytes, lastModified: new Date(1_000_000), source: "test" },
  deadlineSeconds: 2_000,
  loadCheckpoint: async () => null,
  environments: () => {
    throw new Error("no environment is needed without a checkpoint");
  },
  ...over,
});

const outcome = (r: Awaited<ReturnType<typeof validateWindowFile>>, id: string) =>
  r.checks.find((c) => c.id === id)!;

describe("validateWindowFile before the model checks", () => {
  it("reports a missing object as no file", async () => {
    const r = await validateWindowFile(input({ file: null }));
    expect(r.verdict).toBe("no_file");
    expect(r.failingChecks).toEqual(["file_found"]);
  });

  it("treats a tiny or unreadable object as missing, like the validator's size rule", async () => {
    const r = await validateWindowFile(
      input({ file: { bytes: Buffer.from("PAR1"), lastModified: null, source: "x" } }),
    );
    expect(r.verdict).toBe("no_file");
    expect(r.failingChecks).toEqual(expect.arrayContaining(["file_size", "parquet_readable"]));
  });

  it("treats an upload after timestamp(W+30) − 4 s as missing", async () => {
    const late = await validateWindowFile(
      input({ file: { bytes, lastModified: new Date(2_001_000), source: "late" }, deadlineSeconds: 2_000 }),
    );
    expect(late.verdict).toBe("no_file");
    expect(late.failingChecks).toEqual(["upload_deadline"]);
    const unknown = await validateWindowFile(input({ deadlineSeconds: null }));
    expect(outcome(unknown, "upload_deadline").notRun).toBe(1);
  });

  it("says no checkpoint when the trainer has none before the window, after the structural checks", async () => {
    const r = await validateWindowFile(input({}));
    expect(r.verdict).toBe("no_checkpoint");
    expect(r.rows).toBe(16);
    expect(r.groups).toBe(1);
    expect(outcome(r, "group_size").passed).toBe(1);
    expect(outcome(r, "advantage_match").passed).toBe(1);
    expect(outcome(r, "proof_valid").passed).toBe(0);
    expect(outcome(r, "proof_valid").notRun).toBe(1);
  });

  it("treats a file with a JSON column json.loads refuses as missing, as the validator's download does", async () => {
    const broken = await oneGroupFile("broken-json.parquet", (rows) => {
      rows[3]!.commit.commitments = '[{"sketch": 1},';
      rows[7]!.commit.beacon = '{"randomness": "ab",}';
    });
    const r = await validateWindowFile(input({ file: { bytes: broken, lastModified: null, source: "x" } }));
    expect(r.verdict).toBe("no_file");
    expect(r.failingChecks).toContain("json_columns");
    expect(outcome(r, "json_columns").failures.map((f) => f.row)).toEqual([3, 7]);
    // NaN, Infinity and big integers are JSON to Python.
    const lenient = await oneGroupFile("lenient-json.parquet", (rows) => {
      rows[0]!.commit.beacon = '{"randomness": "ab", "x": [NaN, -Infinity, 123456789012345678901234567890]}';
    });
    const ok = await validateWindowFile(input({ file: { bytes: lenient, lastModified: null, source: "x" } }));
    expect(outcome(ok, "json_columns").fails).toBe(false);
  });

  it("says which checks cannot run here and why", async () => {
    const r = await validateWindowFile(input({}));
    const copycat = outcome(r, "copycat");
    expect(copycat.passed + copycat.failed).toBe(0);
    expect(copycat.notes.join(" ")).toMatch(/^not run here: .*other miners/);
    expect(formatReport(r)).toMatch(/copycat .* not run/);
  });

  it("names the window and block-hash checks for a file of another window", async () => {
    const r = await validateWindowFile(input({ window: WINDOW + 30, blockHash: `0x${"00".repeat(32)}` }));
    expect(r.verdict).toBe("fail");
    expect(r.failingChecks).toEqual(expect.arrayContaining(["window_match", "block_hash_match"]));
  });
});
