import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type GenerationLaunchSettings,
  generationLaunchOptions,
  SGLANG_DEFAULT_COMMAND,
  sglangLaunchSpec,
  VLLM_DEFAULT_COMMAND,
  vllmLaunchSpec,
  vllmTokenizerFor,
} from "../src/index.js";

/*
 * The reference miner's generation-server launch, typed from one-covenant/grail at commit
 * 54d6342928dc516b1169342d801596fe4b88ef6f:
 * - grail/mining/config.py, PipelineConfig.from_env: settings and defaults;
 * - grail/mining/weight_sync.py, SGLangWeightSync.start and VLLMWeightSync.start (with
 *   _resolve_tokenizer_name): the child environment, and a ServerConfig that gives SGLang no
 *   tensor_parallel_size (so 1);
 * - grail/trainer/inference_server.py, SGLangServerManager._build_command and _start_server (PATH),
 *   VLLMServerManager._build_command (interpreter tools/vllm-server/.venv/bin/python).
 * Not compared: GRAIL_GENERATION_SERVER_ID, which the supervisor adds at spawn so that a server
 * left behind by a killed miner can be found and stopped.
 */

const HOST = "127.0.0.1";
const PORT = 30123;
const REFERENCE_VLLM_COMMAND = "tools/vllm-server/.venv/bin/python -m vllm.entrypoints.openai.api_server";

/** @grail/config's defaults, which are the reference's PipelineConfig defaults. */
const DEFAULTS: GenerationLaunchSettings = {
  backend: "sglang",
  generationGpu: 0,
  tensorParallel: 1,
  gpuMemUtil: 0.9,
  maxModelLen: 12288,
  maxNumSeqs: 64,
  disableCudaGraph: false,
  serverTimeoutSeconds: 300,
  sglangCommand: null,
  vllmCommand: null,
  cudaVisibleDevices: null,
};

interface Row {
  name: string;
  settings: Partial<GenerationLaunchSettings>;
  /** PATH of the miner process. */
  path: string;
  /** The reference miner's interpreter (sys.executable), which also runs SGLang there. */
  python?: string;
  /** GRAIL_TRAIN_MODEL_ID. */
  trainModelId?: string;
  /** model_name in the checkpoint's metadata.json; no metadata.json when absent. */
  metadataModelName?: string;
}

const rows: Row[] = [
  {
    name: "SGLang, default settings",
    settings: {},
    path: "/usr/local/bin:/usr/bin:/bin",
    python: "/usr/bin/python3",
  },
  {
    name: "SGLang in a virtual environment not on PATH (GRAIL_PIPELINE_SGLANG_COMMAND)",
    settings: { sglangCommand: ["/opt/sglang/bin/python", "-m", "sglang.launch_server"] },
    path: "/usr/bin:/bin",
    python: "/opt/sglang/bin/python",
  },
  {
    name: "SGLang in a virtual environment already on PATH",
    settings: { sglangCommand: ["/opt/sglang/bin/python", "-m", "sglang.launch_server"] },
    path: "/usr/bin:/opt/sglang/bin",
    python: "/opt/sglang/bin/python",
  },
  {
    name: "SGLang TP=4 on GPUs 0-3 of eight, 72 groups per batch (the 8-GPU layout of docs/operations.md)",
    settings: {
      tensorParallel: 4,
      gpuMemUtil: 0.88,
      maxModelLen: 4096,
      maxNumSeqs: 512,
      cudaVisibleDevices: ["0", "1", "2", "3", "4", "5", "6", "7"],
    },
    path: "/usr/bin",
    python: "/usr/bin/python3",
  },
  {
    name: "SGLang on GPU 1 of CUDA_VISIBLE_DEVICES=4,5,6,7 set in .env",
    settings: { generationGpu: 1, cudaVisibleDevices: ["4", "5", "6", "7"] },
    path: "/usr/bin",
    python: "/usr/bin/python3",
  },
  {
    name: "SGLang with GRAIL_PIPELINE_DISABLE_CUDA_GRAPH=true and GPU_MEM_UTIL=1",
    settings: { disableCudaGraph: true, gpuMemUtil: 1 },
    path: "/usr/bin",
    python: "/usr/bin/python3",
  },
  { name: "vLLM, default settings", settings: { backend: "vllm" }, path: "/usr/bin" },
  {
    name: "vLLM TP=2 on GPUs 2-3 from a virtual environment, delta checkpoint, GRAIL_TRAIN_MODEL_ID set",
    settings: {
      backend: "vllm",
      generationGpu: 2,
      tensorParallel: 2,
      maxNumSeqs: 512,
      vllmCommand: ["/opt/vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server"],
    },
    path: "/usr/bin",
    trainModelId: "Qwen/Qwen3-8B",
    metadataModelName: "async_trainer_snapshot",
  },
  {
    name: "vLLM on a full checkpoint whose metadata names its HF model",
    settings: { backend: "vllm" },
    path: "/usr/bin",
    trainModelId: "Qwen/Qwen3-8B",
    metadataModelName: "Qwen/Qwen2.5-7B-Instruct",
  },
  {
    name: "vLLM on a full checkpoint whose metadata names the trainer's local model directory",
    settings: { backend: "vllm" },
    path: "/usr/bin",
    trainModelId: "Qwen/Qwen3-8B",
    metadataModelName: "/home/trainer/models/Qwen3-8B",
  },
  {
    name: "vLLM with GRAIL_PIPELINE_DISABLE_CUDA_GRAPH=true and GPU_MEM_UTIL=1",
    settings: { backend: "vllm", disableCudaGraph: true, gpuMemUtil: 1 },
    path: "/usr/bin",
  },
];

interface Launch {
  argv: string[];
  env: NodeJS.ProcessEnv;
}

const settingsOf = (row: Row): GenerationLaunchSettings => ({ ...DEFAULTS, ...row.settings });
const gpuRange = (first: number, count: number) => Array.from({ length: count }, (_, i) => first + i);
/** Python's str(float): the reference parses these settings with float(). */
const pyFloat = (x: number) => (Number.isInteger(x) ? `${x}.0` : String(x));

/** SGLangWeightSync.start + SGLangServerManager._build_command / _start_server. */
function referenceSglang(row: Row, modelPath: string, parent: NodeJS.ProcessEnv): Launch {
  const s = settingsOf(row);
  const python = row.python!;
  const env: NodeJS.ProcessEnv = { ...parent, CUDA_VISIBLE_DEVICES: String(s.generationGpu) };
  const bin = path.dirname(python);
  if (!(env.PATH ?? "").split(path.delimiter).includes(bin))
    env.PATH = `${bin}${path.delimiter}${env.PATH ?? ""}`;
  return {
    argv: [
      python,
      "-m",
      "sglang.launch_server",
      "--model-path",
      modelPath,
      "--served-model-name",
      path.basename(modelPath),
      "--host",
      HOST,
      "--port",
      String(PORT),
      "--dtype",
      "bfloat16",
      "--tp-size",
      "1",
      "--mem-fraction-static",
      pyFloat(s.gpuMemUtil),
      "--context-length",
      String(s.maxModelLen),
      "--trust-remote-code",
      "--load-balance-method",
      "total_tokens",
      "--disable-custom-all-reduce",
      "--disable-piecewise-cuda-graph",
    ],
    env,
  };
}

/** VLLMWeightSync.start (+ _resolve_tokenizer_name) + VLLMServerManager._build_command. */
function referenceVllm(row: Row, symlinkPath: string, parent: NodeJS.ProcessEnv): Launch {
  const s = settingsOf(row);
  const fromMetadata = row.metadataModelName?.includes("/") ? row.metadataModelName : undefined;
  const tokenizer = fromMetadata ?? row.trainModelId;
  return {
    argv: [
      ...REFERENCE_VLLM_COMMAND.split(" "),
      "--model",
      symlinkPath,
      "--served-model-name",
      path.basename(symlinkPath),
      "--host",
      HOST,
      "--port",
      String(PORT),
      "--dtype",
      "bfloat16",
      "--kv-cache-dtype",
      "auto",
      "--tensor-parallel-size",
      String(s.tensorParallel),
      "--gpu-memory-utilization",
      pyFloat(s.gpuMemUtil),
      "--max-model-len",
      String(s.maxModelLen),
      "--max-num-seqs",
      String(s.maxNumSeqs),
      ...(tokenizer ? ["--tokenizer", tokenizer] : []),
      "--enable-sleep-mode",
    ],
    env: {
      ...parent,
      CUDA_VISIBLE_DEVICES: gpuRange(s.generationGpu, s.tensorParallel).join(","),
      PYTORCH_CUDA_ALLOC_CONF: "",
      VLLM_SERVER_DEV_MODE: "1",
    },
  };
}

interface Difference {
  what: string;
  reference: string | null;
  ours: string | null;
}

/** Splits an argv into the command (everything before the first flag) and its flags. */
function parseArgv(argv: readonly string[]): { command: string; flags: Map<string, string> } {
  const first = argv.findIndex((a) => a.startsWith("--"));
  const flags = new Map<string, string>();
  for (let i = first; i >= 0 && i < argv.length; i++) {
    const flag = argv[i]!;
    if (!flag.startsWith("--")) throw new Error(`stray argument ${flag} in ${argv.join(" ")}`);
    if (flags.has(flag)) throw new Error(`${flag} given twice in ${argv.join(" ")}`);
    const next = argv[i + 1];
    const takesValue = next !== undefined && !next.startsWith("--");
    flags.set(flag, takesValue ? next : "(on)");
    if (takesValue) i++;
  }
  return { command: argv.slice(0, first).join(" "), flags };
}

function differences(reference: Launch, ours: Launch): Difference[] {
  const ref = parseArgv(reference.argv);
  const our = parseArgv(ours.argv);
  const out: Difference[] = [];
  if (ref.command !== our.command) out.push({ what: "command", reference: ref.command, ours: our.command });
  for (const flag of new Set([...ref.flags.keys(), ...our.flags.keys()])) {
    const [a, b] = [ref.flags.get(flag) ?? null, our.flags.get(flag) ?? null];
    if (a !== b) out.push({ what: flag, reference: a, ours: b });
  }
  for (const key of new Set([...Object.keys(reference.env), ...Object.keys(ours.env)])) {
    const [a, b] = [reference.env[key] ?? null, ours.env[key] ?? null];
    if (a !== b) out.push({ what: `env ${key}`, reference: a, ours: b });
  }
  return out.sort((x, y) => x.what.localeCompare(y.what));
}

interface IntentionalDifference {
  what: string;
  reason: string;
  /** The two values this difference has for a row, or null where it does not apply. */
  values(row: Row, parentPath: string): { reference: string | null; ours: string | null } | null;
}

const differs = (reference: string | null, ours: string | null) =>
  reference === ours ? null : { reference, ours };

/** Every way our launch may differ from the reference's; anything else fails the test. */
const INTENTIONAL: IntentionalDifference[] = [
  {
    what: "command",
    reason:
      "the reference runs SGLang with its own interpreter and vLLM with a venv inside its checkout; this " +
      "miner is no Python process, so python3 on PATH or GRAIL_PIPELINE_SGLANG_COMMAND / _VLLM_COMMAND",
    values: (row) => {
      const s = settingsOf(row);
      return s.backend === "sglang"
        ? differs(
            `${row.python} -m sglang.launch_server`,
            (s.sglangCommand ?? SGLANG_DEFAULT_COMMAND).join(" "),
          )
        : differs(REFERENCE_VLLM_COMMAND, (s.vllmCommand ?? VLLM_DEFAULT_COMMAND).join(" "));
    },
  },
  {
    what: "--tp-size",
    reason:
      "the reference's docs say SGLang's --tp-size follows GRAIL_PIPELINE_VLLM_TP, its code always passes 1 " +
      "(spec miner-pipeline §4.1, §11 item 2): TP follows the setting here",
    values: (row) => {
      const s = settingsOf(row);
      return s.backend === "sglang" ? differs("1", String(s.tensorParallel)) : null;
    },
  },
  {
    what: "env CUDA_VISIBLE_DEVICES",
    reason:
      "the GPU range spans TP for SGLang too (as --tp-size), and GPU indices count within the configured " +
      "CUDA_VISIBLE_DEVICES (ARCHITECTURE.md, Configuration; the reference's docs), where the reference's " +
      "code writes the raw index (spec §11 item 3)",
    values: (row) => {
      const s = settingsOf(row);
      const count = s.backend === "sglang" ? 1 : s.tensorParallel;
      const reference = gpuRange(s.generationGpu, count).join(",");
      const ours = gpuRange(s.generationGpu, s.tensorParallel)
        .map((i) => (s.cudaVisibleDevices ? s.cudaVisibleDevices[i] : String(i)))
        .join(",");
      return differs(reference, ours);
    },
  },
  ...(["--disable-cuda-graph", "--enforce-eager"] as const).map((flag) => ({
    what: flag,
    reason:
      "GRAIL_PIPELINE_DISABLE_CUDA_GRAPH (off by default) is the reference docs' stability switch that its " +
      "code never implemented (spec §11 item 1)",
    values: (row: Row) => {
      const s = settingsOf(row);
      const mine = s.backend === "sglang" ? "--disable-cuda-graph" : "--enforce-eager";
      return flag === mine && s.disableCudaGraph ? { reference: null, ours: "(on)" } : null;
    },
  })),
  ...(["--mem-fraction-static", "--gpu-memory-utilization"] as const).map((flag) => ({
    what: flag,
    reason: "the same number: Python prints the float 1 as 1.0, and both servers parse either to 1.0",
    values: (row: Row) => {
      const s = settingsOf(row);
      const mine = s.backend === "sglang" ? "--mem-fraction-static" : "--gpu-memory-utilization";
      return flag === mine ? differs(pyFloat(s.gpuMemUtil), String(s.gpuMemUtil)) : null;
    },
  })),
  {
    what: "--tokenizer",
    reason:
      "a metadata model_name that is a path, not a Hub repository id (the reference's stated intent), is " +
      "not used: that directory is on the trainer's machine and vLLM would not start",
    values: (row) => {
      const s = settingsOf(row);
      const name = row.metadataModelName;
      const repoId = /^[\w.-]+\/[\w.-]+$/;
      if (s.backend !== "vllm" || !name?.includes("/") || repoId.test(name)) return null;
      return differs(name, row.trainModelId ?? null);
    },
  },
  {
    what: "env PATH",
    reason:
      "vLLM gets what the reference gives SGLang: the interpreter's directory on PATH, so tools the server " +
      "shells out to (ninja for FlashInfer's JIT) are found in a venv that is not activated",
    values: (row, parentPath) => {
      const s = settingsOf(row);
      const exe = s.vllmCommand?.[0];
      if (s.backend !== "vllm" || !exe || !path.isAbsolute(exe)) return null;
      const bin = path.dirname(exe);
      if (parentPath.split(path.delimiter).includes(bin)) return null;
      return { reference: parentPath, ours: `${bin}${path.delimiter}${parentPath}` };
    },
  },
];

describe("generation server launch compared with the reference miner's", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "grail-reference-launch-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each(rows.map((row, i) => [row.name, row, i] as const))("%s", async (_name, row, i) => {
    vi.stubEnv("PATH", row.path);
    // Set in .env at most, which the miner reads without exporting; the reference's load_dotenv exports it.
    vi.stubEnv("CUDA_VISIBLE_DEVICES", undefined);
    const s = settingsOf(row);
    const referenceParent: NodeJS.ProcessEnv = {
      ...process.env,
      ...(s.cudaVisibleDevices ? { CUDA_VISIBLE_DEVICES: s.cudaVisibleDevices.join(",") } : {}),
    };
    const options = { ...generationLaunchOptions(s), port: PORT, host: HOST };
    const checkpoint = path.join(root, `row-${i}`, "checkpoint-7");
    await mkdir(checkpoint, { recursive: true });
    if (row.metadataModelName !== undefined) {
      await writeFile(
        path.join(checkpoint, "metadata.json"),
        JSON.stringify({ model_name: row.metadataModelName }),
      );
    }

    let reference: Launch;
    let ours: Launch;
    if (s.backend === "sglang") {
      reference = referenceSglang(row, checkpoint, referenceParent);
      const spec = await sglangLaunchSpec(checkpoint, options);
      ours = { argv: [spec.command, ...spec.args], env: spec.env };
    } else {
      const symlink = path.join(path.dirname(checkpoint), "vllm_active");
      reference = referenceVllm(row, symlink, referenceParent);
      const tokenizer = await vllmTokenizerFor(checkpoint, row.trainModelId ?? null);
      const spec = await vllmLaunchSpec(symlink, options, tokenizer);
      ours = { argv: [spec.command, ...spec.args], env: spec.env };
    }

    const expected = INTENTIONAL.flatMap((d) => {
      const values = d.values(row, row.path);
      return values ? [{ what: d.what, ...values }] : [];
    }).sort((x, y) => x.what.localeCompare(y.what));
    expect(differences(reference, ours)).toEqual(expected);
  });
});
