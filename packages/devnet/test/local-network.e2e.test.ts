import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { HotkeySigner } from "@grail/chain";
import {
  commitBinding,
  noDrandRandomness,
  PRIME_Q,
  parseCommitmentsJson,
  pythonCommitmentsJson,
  type RolloutRecord,
  type WindowFileMetadata,
  windowFileKey,
} from "@grail/protocol";
import { readWindowFile, windowFileMetadata, writeWindowFile } from "@grail/storage";
import {
  type CheckId,
  formatReport,
  type LocalValidator,
  runValidateCli,
  type ValidationReport,
} from "@grail/validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, devnetHotkey, devnetValidator, startDevnet } from "../src/index.js";
import { capturedLogger, type LocalMinerRun, mineWindows, TEST_PYTHON } from "./helpers/mine.js";

let work: string;
let devnet: Devnet;
let miner: HotkeySigner;
let run: LocalMinerRun | null = null;
let validator: LocalValidator;
let closeValidator: (() => Promise<void>) | undefined;
let window: number;
let original: { rows: RolloutRecord[]; metadata: Record<string, string> };
let verdict: ValidationReport;
const log = capturedLogger();

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "devnet-e2e-"));
  miner = await devnetHotkey("e2e-miner");
  devnet = await startDevnet({
    blockTimeMs: 700,
    chain: "embedded",
    cacheDir: work,
    minerHotkeys: [miner.ss58],
  });
  try {
    run = await mineWindows(devnet, miner, { windows: 1, workDir: work, logger: log.logger });
  } catch (err) {
    process.stderr.write(log.text().slice(-20_000));
    throw err;
  }
  await run.stop();
  window = run.reports[0]!.windowStart;
  const local = devnetValidator(devnet, {
    cacheRoot: path.join(work, "validator-checkpoints"),
    python: TEST_PYTHON,
  });
  validator = local.validator;
  closeValidator = local.close;
  verdict = await validator.validate(miner.ss58, window, { distribution: "all" });
  const object = await devnet.minerBucketReader().download(windowFileKey(miner.ss58, window));
  original = await readWindowFile(object.bytes);
}, 170_000);

afterAll(async () => {
  await run?.stop();
  await closeValidator?.();
  await devnet?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * Writes tampered rows as a window file and validates it in place of the uploaded one. The
 * per-rollout checks run on the group of `touched` (every row is still checked structurally).
 */
async function validateTampered(
  touched: number,
  tamper: (rows: RolloutRecord[]) => RolloutRecord[],
  distribution: "all" | "off" = "off",
): Promise<ValidationReport> {
  const rows = tamper(structuredClone(original.rows));
  const file = path.join(work, `tampered-${Math.random().toString(36).slice(2)}.parquet`);
  const metadata: WindowFileMetadata = {
    ...(original.metadata as unknown as WindowFileMetadata),
    inference_count: String(rows.length),
  };
  await writeWindowFile(rows, metadata, file);
  const report = await validator.validate(miner.ss58, window, {
    file: { bytes: await readFile(file), lastModified: null, source: file },
    selection: { kind: "groups", groups: [original.rows[touched]!.rollout_group] },
    distribution,
  });
  return report;
}

/** Re-signs a commit after a change, as a miner holding the key would, to isolate the check. */
function resign(row: RolloutRecord): void {
  const randomness = (JSON.parse(row.commit.beacon) as { randomness: string }).randomness;
  const binding = commitBinding({
    tokens: row.commit.tokens,
    randomnessHex: randomness,
    modelName: row.commit.model.name,
    layerIndex: row.commit.model.layer_index,
    sketches: parseCommitmentsJson(row.commit.commitments),
  });
  row.commit.signature = Buffer.from(miner.sign(binding)).toString("hex");
}

function failing(report: ValidationReport): CheckId[] {
  return report.failingChecks;
}

describe("a window mined on the local network", () => {
  it("is uploaded and passes every check of the local validator", () => {
    expect(run!.reports[0]!.upload?.status, log.text().slice(-5_000)).toBe("uploaded");
    expect(verdict.verdict, formatReport(verdict)).toBe("pass");
    expect(verdict.rolloutsChecked).toBe(verdict.rows);
    expect(verdict.rows % 16).toBe(0);
    expect(verdict.rows).toBeGreaterThanOrEqual(16);
    const ran = new Map(verdict.checks.map((c) => [c.id, c]));
    for (const id of [
      "challenge_signature",
      "commit_signature",
      "env_prompt_valid",
      "proof_valid",
      "termination_valid",
      "env_eval_valid",
      "reward_valid",
      "logprobs_valid",
      "token_distribution_valid",
    ] as CheckId[]) {
      expect(ran.get(id)!.passed, id).toBe(verdict.rows);
    }
    expect(ran.get("upload_deadline")!.passed).toBe(1);
    expect(ran.get("group_size")!.passed).toBe(verdict.groups);
  });

  it("catches a flipped sketch in the proof check", async () => {
    const report = await validateTampered(0, (rows) => {
      const row = rows[0]!;
      const sketches = parseCommitmentsJson(row.commit.commitments);
      const P = row.commit.rollout.prompt_length;
      // One flipped bit (2^20) in every completion sketch: far outside the tolerance.
      for (let p = P; p < sketches.length; p++) sketches[p] = (sketches[p]! ^ (1 << 20)) % PRIME_Q;
      row.commit.commitments = pythonCommitmentsJson(sketches);
      resign(row);
      return rows;
    });
    expect(failing(report)).toEqual(["proof_valid"]);
    expect(report.checks.find((c) => c.id === "proof_valid")!.failures[0]!.row).toBe(0);
  });

  it("catches a flipped sketch that was not re-signed in the commit signature too", async () => {
    const report = await validateTampered(1, (rows) => {
      const row = rows[1]!;
      const sketches = parseCommitmentsJson(row.commit.commitments);
      sketches[sketches.length - 1] = (sketches[sketches.length - 1]! + 1) % PRIME_Q;
      row.commit.commitments = pythonCommitmentsJson(sketches);
      return rows;
    });
    expect(failing(report)).toContain("commit_signature");
  });

  it("catches a wrong commit signature", async () => {
    const other = await devnetHotkey("someone-else");
    const report = await validateTampered(2, (rows) => {
      const row = rows[2]!;
      const randomness = (JSON.parse(row.commit.beacon) as { randomness: string }).randomness;
      const binding = commitBinding({
        tokens: row.commit.tokens,
        randomnessHex: randomness,
        modelName: row.commit.model.name,
        layerIndex: row.commit.model.layer_index,
        sketches: parseCommitmentsJson(row.commit.commitments),
      });
      row.commit.signature = Buffer.from(other.sign(binding)).toString("hex");
      return rows;
    });
    expect(failing(report)).toEqual(["commit_signature"]);
  });

  it("catches a wrong challenge signature", async () => {
    const report = await validateTampered(3, (rows) => {
      rows[3]!.challenge = `${rows[3]!.challenge}0`;
      return rows;
    });
    expect(failing(report)).toEqual(["challenge_signature"]);
  });

  it("catches a partial group", async () => {
    const report = await validateTampered(5, (rows) => rows.filter((_, i) => i !== 5));
    expect(failing(report)).toContain("group_size");
    const groupCheck = report.checks.find((c) => c.id === "group_size")!;
    expect(groupCheck.failures[0]!.message).toMatch(/15 rows/);
  });

  it("catches reordered completion tokens in the model checks even when re-signed", async () => {
    const report = await validateTampered(
      4,
      (rows) => {
        const row = rows[4]!;
        const { tokens } = row.commit;
        const P = row.commit.rollout.prompt_length;
        // Swap pairs across the completion so that challenged positions certainly move.
        for (let p = P; p + 1 < tokens.length; p += 2)
          [tokens[p], tokens[p + 1]] = [tokens[p + 1]!, tokens[p]!];
        resign(row);
        return rows;
      },
      "all",
    );
    // Each position now holds a token the model did not sample there: its logprob is off.
    expect(failing(report)).toContain("logprobs_valid");
    expect(failing(report)).not.toContain("commit_signature");
    expect(failing(report)).not.toContain("env_prompt_valid");
  });

  it("catches a reordered prompt token in the prompt check", async () => {
    const report = await validateTampered(6, (rows) => {
      const row = rows[6]!;
      const { tokens } = row.commit;
      const P = row.commit.rollout.prompt_length;
      const a = P - 5;
      [tokens[a], tokens[a + 1]] = [tokens[a + 1]!, tokens[a]!];
      resign(row);
      return rows;
    });
    expect(failing(report)).toContain("env_prompt_valid");
    const prompt = report.checks.find((c) => c.id === "env_prompt_valid")!;
    expect(prompt.failures[0]!.row).toBe(6);
  });

  it("is validated by the pnpm validate CLI from bucket credentials and block hashes", async () => {
    const hash = await devnet.chain.blockHash(window);
    const challenge = noDrandRandomness(await devnet.chain.blockHash(window + 30));
    const { miner: m, trainer: t } = devnet.buckets;
    const args = [
      "--window",
      String(window),
      "--hotkey",
      miner.ss58,
      "--block-hash",
      hash,
      "--challenge-randomness",
      challenge,
      "--miner-account",
      m.accountId,
      "--miner-key-id",
      m.read.accessKeyId,
      "--miner-secret",
      m.read.secretAccessKey,
      "--trainer-account",
      t.accountId,
      "--trainer-key-id",
      t.read.accessKeyId,
      "--trainer-secret",
      t.read.secretAccessKey,
      "--endpoint",
      devnet.storeLocation.endpointUrl,
      "--force-path-style",
      "--cache",
      path.join(work, "cli-cache"),
      "--datasets",
      "bundled",
      "--backend",
      "cpu",
      "--groups",
      String(original.rows[0]!.rollout_group),
      "--distribution",
      "off",
    ];
    const out = { stdout: "", stderr: "" };
    const sink = (key: "stdout" | "stderr") =>
      ({
        write: (t: string) => {
          out[key] += t;
          return true;
        },
      }) as unknown as NodeJS.WritableStream;
    const io = { stdout: sink("stdout"), stderr: sink("stderr"), env: {}, envFile: null };
    expect(await runValidateCli(args, io), out.stderr).toBe(0);
    expect(out.stdout).toMatch(/proof_valid\s+§7\.4 P4\s+hard\s+16\s+0/);
    expect(out.stdout).toMatch(/verdict: PASS/);

    const tampered = path.join(work, "cli-tampered.parquet");
    const rows = structuredClone(original.rows);
    rows[0]!.signature = rows[1]!.signature;
    await writeWindowFile(rows, original.metadata as unknown as WindowFileMetadata, tampered);
    out.stdout = "";
    expect(await runValidateCli([...args, "--file", tampered], io)).toBe(1);
    expect(out.stdout).toMatch(/verdict: FAIL — failing: challenge_signature/);
  });

  it("reports a missing window as no file", async () => {
    const report = await validator.validate(devnet.trainerHotkey, window);
    expect(report.verdict).toBe("no_file");
    expect(failing(report)).toEqual(["file_found"]);
  });

  it("refuses a file under another hotkey's name (wallet metadata)", async () => {
    const report = await validateTampered(7, (rows) => rows);
    expect(report.verdict).toBe("pass");
    const forged = await validator.validate(devnet.trainerHotkey, window, {
      file: {
        bytes: await (async () => {
          const f = path.join(work, "forged.parquet");
          await writeWindowFile(
            original.rows,
            windowFileMetadata({
              hotkey: miner.ss58,
              windowStart: window,
              rowCount: original.rows.length,
              timestampSeconds: 1,
            }),
            f,
          );
          return readFile(f);
        })(),
        lastModified: null,
        source: "forged",
      },
      selection: { kind: "groups", groups: [original.rows[7]!.rollout_group] },
    });
    expect(failing(forged)).toEqual(expect.arrayContaining(["wallet_match", "commit_signature"]));
  });
});
