import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BasicLogger } from "@grail/log";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  dockerCommand,
  GenerationConfigError,
  GenerationServer,
  type GenerationServerOptions,
  type SamplingPolicy,
  type ServerLaunchOptions,
  serverGpuList,
  sglangLaunchSpec,
  vllmLaunchSpec,
  vllmTokenizerFor,
  writeBigramModelDir,
} from "../src/index.js";
import { nativeCliPath } from "./helpers/paths.js";

const launch: ServerLaunchOptions = {
  gpuStart: 0,
  tp: 1,
  memFraction: 0.9,
  contextLength: 12288,
  disableCudaGraph: false,
};

describe("launch specs", () => {
  it("gives the server the .env's variables for other programs, under its own", async () => {
    const forwarded = { NCCL_P2P_DISABLE: "1", PYTORCH_CUDA_ALLOC_CONF: "expandable_segments:True" };
    const sglang = await sglangLaunchSpec("/m", { ...launch, gpuStart: 1, baseEnv: forwarded, port: 31000 });
    expect(sglang.env.NCCL_P2P_DISABLE).toBe("1");
    expect(sglang.env.CUDA_VISIBLE_DEVICES).toBe("1");
    const vllm = await vllmLaunchSpec("/links/vllm_active", { ...launch, baseEnv: forwarded, port: 31001 });
    expect(vllm.env.NCCL_P2P_DISABLE).toBe("1");
    // vLLM's sleep mode needs the allocator without expandable segments, whatever .env says.
    expect(vllm.env.PYTORCH_CUDA_ALLOC_CONF).toBe("");
  });

  it("builds the SGLang command of spec §4.1 with TP, the GPU range and optional flags", async () => {
    const spec = await sglangLaunchSpec("/ckpt/checkpoint-7", { ...launch, gpuStart: 2, tp: 4, port: 31000 });
    expect(spec.command).toBe("python3");
    expect(spec.args).toEqual([
      "-m",
      "sglang.launch_server",
      "--model-path",
      "/ckpt/checkpoint-7",
      "--served-model-name",
      "checkpoint-7",
      "--host",
      "127.0.0.1",
      "--port",
      "31000",
      "--dtype",
      "bfloat16",
      "--tp-size",
      "4",
      "--mem-fraction-static",
      "0.9",
      "--context-length",
      "12288",
      "--trust-remote-code",
      "--load-balance-method",
      "total_tokens",
      "--disable-custom-all-reduce",
      "--disable-piecewise-cuda-graph",
    ]);
    expect(spec.env.CUDA_VISIBLE_DEVICES).toBe("2,3,4,5");
    expect(spec.baseUrl).toBe("http://127.0.0.1:31000");
    const tuned = await sglangLaunchSpec("/ckpt/c", {
      ...launch,
      sglangMaxRunningRequests: 512,
      disableCudaGraph: true,
    });
    expect(tuned.args.slice(-3)).toEqual(["--max-running-requests", "512", "--disable-cuda-graph"]);
  });

  it("caps SGLang's running requests only when asked, never from vLLM's --max-num-seqs", async () => {
    const spec = await sglangLaunchSpec("/ckpt/c", { ...launch, vllmMaxNumSeqs: 512 });
    expect(spec.args).not.toContain("--max-running-requests");
    const vllm = await vllmLaunchSpec("/links/vllm_active", { ...launch, sglangMaxRunningRequests: 8 });
    expect(vllm.args).not.toContain("--max-running-requests");
    expect(vllm.args[vllm.args.indexOf("--max-num-seqs") + 1]).toBe("64");
    await expect(sglangLaunchSpec("/m", { ...launch, sglangMaxRunningRequests: 0 })).rejects.toThrow(
      /sglangMaxRunningRequests=0/,
    );
  });

  it("prefixes PATH with the interpreter's directory for an absolute launch command", async () => {
    const spec = await sglangLaunchSpec("/m", {
      ...launch,
      command: ["/opt/venv/bin/python", "-m", "sglang.launch_server"],
    });
    expect(spec.env.PATH!.split(path.delimiter)[0]).toBe("/opt/venv/bin");
  });

  it("leaves PATH alone when the interpreter's directory is on it already", async () => {
    vi.stubEnv("PATH", `/usr/bin${path.delimiter}/opt/venv/bin`);
    try {
      const spec = await sglangLaunchSpec("/m", {
        ...launch,
        command: ["/opt/venv/bin/python", "-m", "sglang.launch_server"],
      });
      expect(spec.env.PATH).toBe(`/usr/bin${path.delimiter}/opt/venv/bin`);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("builds the vLLM command of spec §4.5 with sleep mode and its environment", async () => {
    const spec = await vllmLaunchSpec(
      "/links/vllm_active",
      { ...launch, tp: 2, port: 8000 },
      "Qwen/Qwen3-8B",
    );
    expect(spec.args).toEqual([
      "-m",
      "vllm.entrypoints.openai.api_server",
      "--model",
      "/links/vllm_active",
      "--served-model-name",
      "vllm_active",
      "--host",
      "127.0.0.1",
      "--port",
      "8000",
      "--dtype",
      "bfloat16",
      "--kv-cache-dtype",
      "auto",
      "--tensor-parallel-size",
      "2",
      "--gpu-memory-utilization",
      "0.9",
      "--max-model-len",
      "12288",
      "--max-num-seqs",
      "64",
      "--tokenizer",
      "Qwen/Qwen3-8B",
      "--enable-sleep-mode",
    ]);
    expect(spec.env).toMatchObject({
      CUDA_VISIBLE_DEVICES: "0,1",
      VLLM_SERVER_DEV_MODE: "1",
      PYTORCH_CUDA_ALLOC_CONF: "",
    });
  });

  it("maps relative GPU indices through the parent's CUDA_VISIBLE_DEVICES and checks the range", () => {
    expect(serverGpuList(1, 2, "physical", "4,5,6,7")).toBe("1,2");
    expect(serverGpuList(1, 2, "relative", "4,5,6,7")).toBe("5,6");
    expect(serverGpuList(1, 2, "relative", undefined)).toBe("1,2");
    expect(serverGpuList(1, 2, "relative", ["4", "5", "6", "7"])).toBe("5,6");
    expect(() => serverGpuList(3, 2, "relative", "4,5,6,7")).toThrow(GenerationConfigError);
    // An empty CUDA_VISIBLE_DEVICES hides every GPU.
    expect(() => serverGpuList(0, 1, "relative", "")).toThrow(/exceed the 0 devices/);
  });

  it("counts relative indices within the configured devices, not only the exported variable", async () => {
    vi.stubEnv("CUDA_VISIBLE_DEVICES", "0,1");
    try {
      const spec = await sglangLaunchSpec("/m", {
        ...launch,
        gpuStart: 1,
        tp: 2,
        gpuIndexing: "relative",
        visibleDevices: ["4", "5", "6", "7"],
      });
      expect(spec.env.CUDA_VISIBLE_DEVICES).toBe("5,6");
      const fromParent = await sglangLaunchSpec("/m", { ...launch, gpuStart: 1, gpuIndexing: "relative" });
      expect(fromParent.env.CUDA_VISIBLE_DEVICES).toBe("1");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("takes vLLM's tokenizer from the checkpoint's metadata when it names a Hub repository", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "grail-tokenizer-"));
    try {
      const withName = async (content: string | null) => {
        const ckpt = await mkdtemp(path.join(dir, "checkpoint-"));
        if (content !== null) await writeFile(path.join(ckpt, "metadata.json"), content);
        return vllmTokenizerFor(ckpt, "Qwen/Qwen3-8B");
      };
      expect(await withName(JSON.stringify({ model_name: "Qwen/Qwen2.5-7B-Instruct" }))).toBe(
        "Qwen/Qwen2.5-7B-Instruct",
      );
      expect(await withName(JSON.stringify({ model_name: "async_trainer_snapshot" }))).toBe("Qwen/Qwen3-8B");
      expect(await withName(JSON.stringify({ model_name: "/home/trainer/Qwen3-8B" }))).toBe("Qwen/Qwen3-8B");
      expect(await withName(JSON.stringify({ model_name: "--help/x" }))).toBe("Qwen/Qwen3-8B");
      expect(await withName(JSON.stringify({ model_name: 7 }))).toBe("Qwen/Qwen3-8B");
      expect(await withName("{ not json")).toBe("Qwen/Qwen3-8B");
      expect(await withName("null")).toBe("Qwen/Qwen3-8B");
      expect(await withName(null)).toBe("Qwen/Qwen3-8B");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("substitutes the docker launch prefix", async () => {
    const docker = dockerCommand({
      image: "lmsysorg/sglang:v0.5.10",
      containerName: "grail-sglang",
      mounts: ["/cache"],
      entrypoint: ["python3", "-m", "sglang.launch_server"],
    });
    const spec = await sglangLaunchSpec("/cache/checkpoint-1", {
      ...launch,
      gpuStart: 4,
      tp: 2,
      port: 30001,
      ...docker,
    });
    expect(spec.command).toBe("docker");
    expect(spec.args.slice(0, 14)).toEqual([
      "run",
      "--rm",
      "--name",
      "grail-sglang",
      "--gpus",
      '"device=4,5"',
      "--network",
      "host",
      "--ipc",
      "host",
      "-v",
      "/cache:/cache",
      "lmsysorg/sglang:v0.5.10",
      "python3",
    ]);
    expect(spec.stopCommand).toEqual(["docker", "rm", "-f", "grail-sglang"]);
  });

  it("rejects invalid options with the field name", async () => {
    await expect(sglangLaunchSpec("/m", { ...launch, tp: 0 })).rejects.toThrow(/tp=0/);
    await expect(sglangLaunchSpec("/m", { ...launch, memFraction: 1.5 })).rejects.toThrow(/memFraction/);
  });
});

/** Running (a killed orphan may linger as a zombie until its new parent reaps it: that counts as dead). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
};

describe("supervised native server (real child process)", () => {
  let root: string;
  let ckptA: string;
  let ckptB: string;
  let server: GenerationServer | null = null;
  const lines: string[] = [];
  const logger: BasicLogger = {
    debug: (m) => lines.push(m),
    info: (m) => lines.push(m),
    warn: (m) => lines.push(m),
    error: (m) => lines.push(m),
  };
  const policy: SamplingPolicy = {
    maxNewTokens: 10,
    temperature: 0.01,
    topP: 1,
    topK: 1,
    repetitionPenalty: 1,
  };
  const prompts = Array.from({ length: 32 }, (_, i) => [i % 50, (3 * i) % 50]);

  beforeAll(async () => {
    if (!existsSync(nativeCliPath)) {
      throw new Error(
        `${nativeCliPath} is missing: build first (pnpm turbo run build --filter @grail/generation)`,
      );
    }
    root = await mkdtemp(path.join(tmpdir(), "grail-launch-"));
    ckptA = await writeBigramModelDir(path.join(root, "checkpoint-10"), {
      vocabSize: 64,
      eosTokenId: 7,
      seed: 10,
      scale: 4,
      eosBias: 0,
    });
    ckptB = await writeBigramModelDir(path.join(root, "checkpoint-11"), {
      vocabSize: 64,
      eosTokenId: 7,
      seed: 11,
      scale: 4,
      eosBias: 0,
    });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  const options = (backend: "sglang" | "vllm", command: string[]): GenerationServerOptions => ({
    backend,
    launch: { gpuStart: 1, tp: 2, memFraction: 0.9, contextLength: 512, disableCudaGraph: false, command },
    client: { promptsPerRequest: 16, maxConcurrentRequests: 2, retry: { attempts: 3, backoffMs: [20] } },
    symlinkDir: path.join(root, "links"),
    supervisor: { pollIntervalMs: 25, restartBackoffMs: [20], stopGraceMs: 3_000 },
    logger,
  });

  it("starts through the SGLang launcher, restarts after a crash, syncs in place and kills its process group", async () => {
    // A shell leads the process group and runs the server as its child, like SGLang's TP workers.
    const command = ["sh", "-c", 'node "$0" "$@" & wait', nativeCliPath];
    server = await GenerationServer.start(ckptA, options("sglang", command));
    const info = (await (await fetch(`${server.baseUrl}/get_server_info`)).json()) as {
      pid: number;
      cuda_visible_devices: string;
    };
    expect(info.cuda_visible_devices).toBe("1,2");
    expect(
      lines.some((l) => l.startsWith("[sglang] ") && l.includes("ready on") && l.includes("server=native")),
    ).toBe(true);

    const first = await server.generate(prompts, policy, { expectCheckpoint: ckptA });
    expect(first.every((r) => r.status === "generated" && r.outputIds.length > 0)).toBe(true);

    // Crash: kill only the group leader; the supervisor must reap the orphaned server and relaunch.
    const leader = server.pid!;
    const ready = new Promise<void>((resolve) => server!.process.once("ready", () => resolve()));
    process.kill(leader, "SIGKILL");
    await ready;
    expect(server.pid).not.toBe(leader);
    expect(alive(info.pid)).toBe(false);
    expect(server.loadedCheckpoint).toBe(ckptA);
    const again = await server.generate(prompts, policy, { expectCheckpoint: ckptA });
    expect(again.map((r) => r.outputIds)).toEqual(first.map((r) => r.outputIds));

    const outcome = await server.syncWeights(ckptB);
    expect(outcome.method).toBe("in-place");
    const synced = await server.generate(prompts, policy, { expectCheckpoint: ckptB });
    expect(synced.map((r) => r.outputIds)).not.toEqual(first.map((r) => r.outputIds));

    const info2 = (await (await fetch(`${server.baseUrl}/get_server_info`)).json()) as { pid: number };
    const leader2 = server.pid!;
    await server.stop();
    expect(alive(leader2)).toBe(false);
    expect(alive(info2.pid)).toBe(false);
    expect(server.loadedCheckpoint).toBeNull();
  });

  it("starts through the vLLM launcher and reloads through the symlink", async () => {
    server = await GenerationServer.start(ckptA, options("vllm", [process.execPath, nativeCliPath]));
    expect(server.servedModelName).toBe("vllm_active");
    const before = await server.generate(prompts, policy);
    expect(before.every((r) => r.outputIds.length > 0)).toBe(true);
    const outcome = await server.syncWeights(ckptB);
    expect(outcome.method).toBe("in-place");
    expect(await readlink(path.join(root, "links", "vllm_active"))).toBe(ckptB);
    const after = await server.generate(prompts, policy, { expectCheckpoint: ckptB });
    expect(after.map((r) => r.outputIds)).not.toEqual(before.map((r) => r.outputIds));
  });

  it("reports a server that dies during start-up with its log tail", async () => {
    const error = await GenerationServer.start(
      path.join(root, "missing"),
      options("sglang", [process.execPath, nativeCliPath]),
    ).catch((e: unknown) => e);
    expect((error as Error).name).toBe("ServerStartError");
    expect(JSON.stringify((error as { context: unknown }).context)).toMatch(
      /neither grail-bigram.json nor a transformer checkpoint/,
    );
  });
});
