import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type GenerationBackend,
  GenerationServer,
  type SamplingPolicy,
  StaleWeightsError,
  WeightSyncError,
} from "../src/index.js";
import { fixturesDir } from "./helpers/paths.js";

const recordingServer = path.join(fixturesDir, "recording-server.mjs");
const policy: SamplingPolicy = {
  maxNewTokens: 16,
  temperature: 0.7,
  topP: 0.9,
  topK: 50,
  repetitionPenalty: 1,
};

interface Entry {
  pid: number;
  event: "start" | "request" | "end" | "reloaded";
  method?: string;
  path?: string;
  body?: { input_ids?: unknown; [key: string]: unknown };
  argv?: string[];
  model?: string;
  target?: string;
  cudaVisibleDevices?: string | null;
}

let root: string;
let recordFile: string;
let ckpt: (n: number) => string;
let server: GenerationServer | null = null;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "grail-sync-"));
  recordFile = path.join(root, "requests.jsonl");
  await writeFile(recordFile, "");
  ckpt = (n) => path.join(root, "checkpoints", `checkpoint-${n}`);
  for (const n of [1, 2, 3]) await mkdir(ckpt(n), { recursive: true });
});

afterEach(async () => {
  await server?.stop();
  server = null;
  await rm(root, { recursive: true, force: true });
});

async function records(): Promise<Entry[]> {
  const text = await readFile(recordFile, "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Entry);
}

const syncCalls = (all: Entry[]) =>
  all
    .filter(
      (r) =>
        r.event === "request" && !["/health", "/v1/models", "/generate", "/v1/completions"].includes(r.path!),
    )
    .map((r) => `${r.method} ${r.path}`);

async function startServer(backend: GenerationBackend, env: Record<string, string> = {}) {
  server = await GenerationServer.start(ckpt(1), {
    backend,
    launch: {
      gpuStart: 3,
      tp: 2,
      memFraction: 0.8,
      contextLength: 4096,
      sglangMaxRunningRequests: 64,
      vllmMaxNumSeqs: 96,
      disableCudaGraph: true,
      command: [process.execPath, recordingServer],
      env: { RECORD_FILE: recordFile, ...env },
    },
    client: { promptsPerRequest: 32, maxConcurrentRequests: 4, retry: { attempts: 2, backoffMs: [1] } },
    symlinkDir: path.join(root, "links"),
    tokenizer: "Qwen/Qwen3-8B",
    supervisor: { pollIntervalMs: 20, restartBackoffMs: [10], stopGraceMs: 2_000 },
  });
  return server;
}

const prompts = Array.from({ length: 32 }, (_, i) => [i, i + 1]);
const servedTag = async (s: GenerationServer, expectCheckpoint?: string) =>
  new Set(
    (await s.generate(prompts, policy, expectCheckpoint ? { expectCheckpoint } : {})).map(
      (r) => r.outputIds[0],
    ),
  );

describe("SGLang weight sync against a recording server", () => {
  it("launches with the GPU range and flags, then reloads in place with update_weights_from_disk", async () => {
    const s = await startServer("sglang");
    const [start] = await records();
    expect(start!.cudaVisibleDevices).toBe("3,4");
    expect(start!.argv).toEqual(
      expect.arrayContaining(["--tp-size", "2", "--max-running-requests", "64", "--disable-cuda-graph"]),
    );
    expect(start!.argv!.slice(0, 4)).toEqual([
      "--model-path",
      ckpt(1),
      "--served-model-name",
      "checkpoint-1",
    ]);
    expect(s.loadedCheckpoint).toBe(ckpt(1));
    expect(await servedTag(s, ckpt(1))).toEqual(new Set([1]));

    const outcome = await s.syncWeights(ckpt(2));
    expect(outcome).toMatchObject({ method: "in-place", checkpoint: ckpt(2) });
    const all = await records();
    expect(syncCalls(all)).toEqual(["POST /update_weights_from_disk", "GET /get_model_info"]);
    const update = all.find((r) => r.path === "/update_weights_from_disk")!;
    expect(update.body).toEqual({ model_path: ckpt(2), weight_version: "checkpoint-2" });
    expect(s.loadedCheckpoint).toBe(ckpt(2));
    expect(await servedTag(s, ckpt(2))).toEqual(new Set([2]));
    expect(all.filter((r) => r.event === "start")).toHaveLength(1);
  });

  it("refuses to generate on weights other than the proofs' checkpoint", async () => {
    const s = await startServer("sglang");
    await expect(s.generate(prompts, policy, { expectCheckpoint: ckpt(2) })).rejects.toBeInstanceOf(
      StaleWeightsError,
    );
    // Only the launcher's warm-up request reached the server.
    const generateCalls = (await records()).filter((r) => r.path === "/generate" && r.event === "request");
    expect(generateCalls.map((r) => r.body?.input_ids)).toEqual([[1, 2, 3]]);
  });

  it("waits for running generation before reloading", async () => {
    const s = await startServer("sglang", { GENERATE_DELAY_MS: "200" });
    const generation = s.generate(prompts, policy);
    const sync = s.syncWeights(ckpt(2));
    await Promise.all([generation, sync]);
    const all = await records();
    const generateEnd = all.findIndex((r) => r.event === "end");
    const update = all.findIndex((r) => r.path === "/update_weights_from_disk");
    expect(generateEnd).toBeGreaterThan(-1);
    expect(update).toBeGreaterThan(generateEnd);
    expect(new Set((await generation).map((r) => r.outputIds[0]))).toEqual(new Set([1]));
  });

  it("falls back to a restart on the new checkpoint when the in-place reload fails", async () => {
    const s = await startServer("sglang", { FAIL_WEIGHT_UPDATES: "1" });
    const firstPid = s.pid;
    const outcome = await s.syncWeights(ckpt(2));
    expect(outcome.method).toBe("restart");
    expect(outcome.inPlaceError).toMatch(/injected failure/);
    const starts = (await records()).filter((r) => r.event === "start");
    expect(starts.map((r) => r.model)).toEqual([ckpt(1), ckpt(2)]);
    expect(s.pid).not.toBe(firstPid);
    expect(s.loadedCheckpoint).toBe(ckpt(2));
    expect(await servedTag(s, ckpt(2))).toEqual(new Set([2]));
  });

  it("disables generation when both the reload and the restart fail", async () => {
    const s = await startServer("sglang", { FAIL_WEIGHT_UPDATES: "1", FAIL_START_FOR: ckpt(3) });
    await expect(s.syncWeights(ckpt(3))).rejects.toBeInstanceOf(WeightSyncError);
    expect(s.loadedCheckpoint).toBeNull();
    await expect(s.generate(prompts, policy, { expectCheckpoint: ckpt(3) })).rejects.toBeInstanceOf(
      StaleWeightsError,
    );
    await expect(s.generate(prompts, policy, { expectCheckpoint: ckpt(1) })).rejects.toBeInstanceOf(
      StaleWeightsError,
    );
  });
});

describe("vLLM weight sync against a recording server", () => {
  it("serves the stable symlink and reloads with sleep / wake_up / reload_weights / reset_prefix_cache", async () => {
    const s = await startServer("vllm");
    const link = path.join(root, "links", "vllm_active");
    expect(await readlink(link)).toBe(ckpt(1));
    const [start] = await records();
    expect(start!.argv!.slice(0, 4)).toEqual(["--model", link, "--served-model-name", "vllm_active"]);
    expect(start!.argv).toEqual(
      expect.arrayContaining([
        "--tensor-parallel-size",
        "2",
        "--max-num-seqs",
        "96",
        "--tokenizer",
        "Qwen/Qwen3-8B",
        "--enable-sleep-mode",
        "--enforce-eager",
      ]),
    );
    expect(start!.cudaVisibleDevices).toBe("3,4");
    expect(await servedTag(s)).toEqual(new Set([1]));

    const outcome = await s.syncWeights(ckpt(2));
    expect(outcome.method).toBe("in-place");
    expect(await readlink(link)).toBe(ckpt(2));
    const all = await records();
    expect(syncCalls(all)).toEqual([
      "POST /sleep?level=2",
      "POST /wake_up",
      "POST /collective_rpc",
      "POST /reset_prefix_cache",
    ]);
    expect(all.find((r) => r.path === "/collective_rpc")!.body).toEqual({ method: "reload_weights" });
    expect(all.find((r) => r.event === "reloaded")!.target).toBe(ckpt(2));
    expect(await servedTag(s, ckpt(2))).toEqual(new Set([2]));
  });

  it("restarts on the re-pointed symlink when the reload fails", async () => {
    // A full checkpoint names its Hub model; the restart's --tokenizer follows it, as the reference's does.
    await writeFile(
      path.join(ckpt(2), "metadata.json"),
      JSON.stringify({ model_name: "Qwen/Qwen2.5-7B-Instruct" }),
    );
    const s = await startServer("vllm", { FAIL_WEIGHT_UPDATES: "1" });
    const outcome = await s.syncWeights(ckpt(2));
    expect(outcome.method).toBe("restart");
    const starts = (await records()).filter((r) => r.event === "start");
    expect(starts.map((r) => r.model)).toEqual([ckpt(1), ckpt(2)]);
    const tokenizerOf = (argv: string[]) => argv[argv.indexOf("--tokenizer") + 1];
    expect(starts.map((r) => tokenizerOf(r.argv!))).toEqual(["Qwen/Qwen3-8B", "Qwen/Qwen2.5-7B-Instruct"]);
    expect(await servedTag(s, ckpt(2))).toEqual(new Set([2]));
  });
});
