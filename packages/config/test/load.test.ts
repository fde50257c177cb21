import path from "node:path";
import { globalSecrets } from "@grail/log";
import { describe, expect, test } from "vitest";
import { ConfigError, loadConfig } from "../src/index.js";
import { configError, HOME, load, tempDir, writeFile } from "./helpers.js";

describe("defaults", () => {
  test("nothing set: the embedded local network, reference defaults elsewhere", () => {
    const cfg = load();
    expect(cfg.chain).toMatchObject({ network: "local", endpoint: null, embeddedDevnet: true, netuid: 200 });
    expect(cfg.chain.useDrand).toBe(true);
    expect(cfg.wallet).toEqual({ coldkey: "default", hotkey: "default", path: `${HOME}/.bittensor/wallets` });
    expect(cfg.storage).toMatchObject({
      read: null,
      write: null,
      region: "us-east-1",
      forcePathStyle: false,
    });
    expect(cfg.pipeline).toMatchObject({
      backend: "sglang",
      generationGpu: 0,
      tensorParallel: 1,
      proofGpu: 1,
      proofGpuIds: [],
      proofGpus: [1],
      groupsPerBatch: 1,
      proofFlashAttn: false,
      gpuMemUtil: 0.9,
      maxModelLen: 12288,
      maxNumSeqs: 64,
      maxConcurrent: 48,
      serverTimeoutSeconds: 300,
      proofEngine: { default: "native", perGpu: {} },
      sglangCommand: null,
      safetyBlocks: 3,
      cudaVisibleDevices: null,
    });
    expect(cfg.paths).toEqual({
      cacheDir: `${HOME}/.cache/grail`,
      checkpointDir: `${HOME}/.cache/grail/checkpoints`,
      spoolDir: `${HOME}/.cache/grail/spool`,
    });
    expect(cfg.monitoring.backend).toBe("null");
    expect(cfg.logging).toEqual({ verbosity: 0, format: "auto", file: null });
    expect(cfg.origin.envFile).toBeNull();
    expect(cfg.origin.settings.BT_NETWORK).toMatchObject({ source: "default", display: "local" });
  });

  test("the result is deeply frozen", () => {
    const cfg = load({ GRAIL_PIPELINE_PROOF_GPU_IDS: "2,3" });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.pipeline)).toBe(true);
    expect(Object.isFrozen(cfg.pipeline.proofGpuIds)).toBe(true);
    expect(() => {
      (cfg.pipeline as { tensorParallel: number }).tensorParallel = 8;
    }).toThrow(TypeError);
  });

  test("empty values mean the default (CUDA_VISIBLE_DEVICES excepted: empty hides every GPU)", () => {
    const cfg = load({ GRAIL_PIPELINE_VLLM_TP: "", R2_ENDPOINT_URL: "", CUDA_VISIBLE_DEVICES: "" });
    expect(cfg.pipeline.tensorParallel).toBe(1);
    expect(cfg.storage.endpointUrl).toBeNull();
    expect(cfg.pipeline.cudaVisibleDevices).toEqual([]);
  });
});

describe("numbers", () => {
  test("a word where a number belongs", () => {
    const err = configError({ GRAIL_PIPELINE_VLLM_TP: "abc" });
    expect(err.issues).toEqual([
      {
        variable: "GRAIL_PIPELINE_VLLM_TP",
        value: "abc",
        source: "environment",
        problem: "is not a number",
        allowed: "a whole number ≥ 1",
      },
    ]);
    expect(err.message).toContain(
      'GRAIL_PIPELINE_VLLM_TP="abc" (from environment) is not a number; allowed: a whole number ≥ 1',
    );
  });

  test("fractions for integers, exponents and blanks inside", () => {
    for (const value of ["2.5", "1.0", "1e3"]) {
      expect(configError({ GRAIL_PIPELINE_GROUPS_PER_BATCH: value }).issues[0]!.problem).toBe(
        "is not a whole number",
      );
    }
    expect(configError({ GRAIL_PIPELINE_GROUPS_PER_BATCH: "7 2" }).issues[0]!.problem).toBe(
      "is not a number",
    );
    expect(load({ GRAIL_PIPELINE_GROUPS_PER_BATCH: " 72 " }).pipeline.groupsPerBatch).toBe(72);
  });

  test("negatives and zero where they make no sense", () => {
    const err = configError({
      GRAIL_PIPELINE_VLLM_TP: "0",
      GRAIL_PIPELINE_VLLM_GPU: "-1",
      UPLOAD_TIMEOUT: "-5",
      GRAIL_PIPELINE_SERVER_TIMEOUT: "0",
      GRAIL_PIPELINE_GPU_MEM_UTIL: "1.5",
      GRAIL_MINER_SAFETY_BLOCKS: "30",
      GRAIL_PROMETHEUS_PORT: "70000",
    });
    expect(err.issues.map((i) => [i.variable, i.problem, i.allowed])).toEqual([
      ["UPLOAD_TIMEOUT", "is out of range", "a number > 0"],
      ["GRAIL_PIPELINE_VLLM_GPU", "is out of range", "a whole number ≥ 0"],
      ["GRAIL_PIPELINE_VLLM_TP", "is out of range", "a whole number ≥ 1"],
      ["GRAIL_PIPELINE_GPU_MEM_UTIL", "is out of range", "a number in (0, 1]"],
      ["GRAIL_PIPELINE_SERVER_TIMEOUT", "is out of range", "a number > 0"],
      ["GRAIL_MINER_SAFETY_BLOCKS", "is out of range", "a whole number from 0 to 29"],
      ["GRAIL_PROMETHEUS_PORT", "is out of range", "a whole number from 1 to 65535"],
    ]);
  });

  test("valid numbers parse", () => {
    const cfg = load({ GRAIL_PIPELINE_GPU_MEM_UTIL: "0.88", UPLOAD_TIMEOUT: "120.5", BT_CALL_BACKOFF: "0" });
    expect(cfg.pipeline.gpuMemUtil).toBe(0.88);
    expect(cfg.storage.uploadTimeoutSeconds).toBe(120.5);
    expect(cfg.chain.callBackoffSeconds).toBe(0);
  });
});

describe("booleans and choices", () => {
  test("true/false/1/0/yes/no in any case", () => {
    for (const [text, value] of [
      ["true", true],
      ["TRUE", true],
      ["1", true],
      ["yes", true],
      ["false", false],
      ["0", false],
      ["No", false],
    ] as const) {
      expect(load({ GRAIL_PIPELINE_PROOF_SUBPROCESS: text }).pipeline.proofSubprocess).toBe(value);
    }
  });

  test("anything else is refused", () => {
    const err = configError({ GRAIL_PIPELINE_PROOF_SUBPROCESS: "on", R2_FORCE_PATH_STYLE: "maybe" });
    expect(err.issues.map((i) => [i.variable, i.value, i.allowed])).toEqual([
      ["R2_FORCE_PATH_STYLE", "maybe", "true/false, 1/0 or yes/no"],
      ["GRAIL_PIPELINE_PROOF_SUBPROCESS", "on", "true/false, 1/0 or yes/no"],
    ]);
  });

  test("unknown backends", () => {
    const err = configError({ GRAIL_PIPELINE_BACKEND: "tgi", GRAIL_MONITORING_BACKEND: "datadog" });
    expect(err.issues.map((i) => `${i.variable}: ${i.allowed}`)).toEqual([
      "GRAIL_PIPELINE_BACKEND: one of sglang, vllm",
      "GRAIL_MONITORING_BACKEND: one of prometheus, wandb, null",
    ]);
    expect(
      load({ GRAIL_PIPELINE_BACKEND: "vLLM", GRAIL_MONITORING_BACKEND: "Prometheus" }).pipeline.backend,
    ).toBe("vllm");
  });

  test("prometheus has a bind address and port", () => {
    const cfg = load({ GRAIL_MONITORING_BACKEND: "prometheus", GRAIL_PROMETHEUS_PORT: "9100" });
    expect(cfg.monitoring.backend).toBe("prometheus");
    expect(cfg.monitoring.prometheus).toEqual({ host: "127.0.0.1", port: 9100 });
  });
});

describe("all problems at once", () => {
  test("every bad variable is reported in one error, in schema order", () => {
    const err = configError(
      {
        BT_NETWORK: "mainnet",
        NETUID: "x",
        BT_WALLET_HOT: "../evil",
        GRAIL_PIPELINE_VLLM_TP: "abc",
        GRAIL_PIPELINE_PROOF_GPU_IDS: "4,,5",
        GRAIL_PIPELINE_PROOF_ENGINE: "cuda",
        GRAIL_LOG_MAX_SIZE: "10XB",
        GRAIL_PIPELINE_SGLANG_COMMAND: 'python "unclosed',
        CUDA_VISIBLE_DEVICES: "0,0",
      },
      { argv: ["--frob"] },
    );
    expect(err.issues.map((i) => i.variable)).toEqual([
      "command line",
      "BT_NETWORK",
      "NETUID",
      "BT_WALLET_HOT",
      "GRAIL_PIPELINE_VLLM_TP",
      "GRAIL_PIPELINE_PROOF_GPU_IDS",
      "GRAIL_PIPELINE_PROOF_ENGINE",
      "GRAIL_PIPELINE_SGLANG_COMMAND",
      "CUDA_VISIBLE_DEVICES",
      "GRAIL_LOG_MAX_SIZE",
    ]);
    expect(err.message.split("\n")[0]).toBe("Invalid miner configuration (10 problems):");
    for (const issue of err.issues) expect(err.message).toContain(issue.variable);
    expect(err.message).toContain("values in a .env file win over exported variables");
  });
});

describe("secrets", () => {
  const SECRET = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed-extra";

  test("a rejected secret shows as [redacted]", () => {
    const err = configError({ R2_READ_SECRET_ACCESS_KEY: SECRET, R2_READ_ACCESS_KEY_ID: "id" });
    expect(err.issues[0]).toMatchObject({ variable: "R2_READ_SECRET_ACCESS_KEY", value: "[redacted]" });
    expect(err.message).not.toContain(SECRET);
  });

  test("a secret pasted into another variable is scrubbed from the error too", () => {
    const secret = "wR1te-s3cret-value-0123456789";
    const err = configError({
      R2_WRITE_ACCESS_KEY_ID: "key-id",
      R2_WRITE_SECRET_ACCESS_KEY: secret,
      GRAIL_PIPELINE_VLLM_TP: secret,
      WANDB_API_KEY: "wandb-api-key-123456",
      WANDB_PROJECT: "x",
      GRAIL_PIPELINE_MAX_NUM_SEQS: "wandb-api-key-123456",
    });
    expect(err.issues.map((i) => [i.variable, i.value])).toEqual([
      ["GRAIL_PIPELINE_VLLM_TP", "[redacted]"],
      ["GRAIL_PIPELINE_MAX_NUM_SEQS", "[redacted]"],
    ]);
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain("wandb-api-key-123456");
  });

  test("secret values are registered with the log redaction unless asked not to", () => {
    const registered = "registered-secret-abcdef";
    const kept = "unregistered-secret-abcdef";
    loadConfig({
      env: { R2_WRITE_ACCESS_KEY_ID: "k", R2_WRITE_SECRET_ACCESS_KEY: registered },
      envFile: null,
    });
    load({ R2_WRITE_ACCESS_KEY_ID: "k", R2_WRITE_SECRET_ACCESS_KEY: kept });
    expect(globalSecrets.has(registered)).toBe(true);
    expect(globalSecrets.has(kept)).toBe(false);
  });
});

describe("dataset hub", () => {
  test("HF_ENDPOINT defaults to the Hugging Face hub, takes a mirror, and must be an http(s) URL", () => {
    expect(load().datasets).toEqual({ hubUrl: "https://huggingface.co", hubToken: null });
    expect(load({ HF_ENDPOINT: "https://hf-mirror.example.org/" }).datasets.hubUrl).toBe(
      "https://hf-mirror.example.org",
    );
    expect(configError({ HF_ENDPOINT: "ftp://mirror" }).issues[0]).toMatchObject({ variable: "HF_ENDPOINT" });
  });

  test("HF_TOKEN is a secret: used, but printed and reported only as [redacted]", () => {
    const token = "hf_abcdefghijklmnopqrstuvwxyz012345";
    const cfg = load({ HF_TOKEN: token });
    expect(cfg.datasets.hubToken).toBe(token);
    expect(cfg.origin.settings.HF_TOKEN).toMatchObject({ display: "[redacted]", source: "environment" });
    expect(cfg.origin.unknown).toEqual([]);
    const err = configError({ HF_TOKEN: "hf_with space" });
    expect(err.issues[0]).toMatchObject({ variable: "HF_TOKEN", value: "[redacted]" });
    expect(err.message).not.toContain("hf_with space");
  });
});

describe(".env file", () => {
  const dir = tempDir("grail-config-env-");

  test(".env values override the environment; the rest still comes from the environment", () => {
    const file = writeFile(
      path.join(dir, "override", ".env"),
      "GRAIL_PIPELINE_VLLM_TP=4\nexport GRAIL_PIPELINE_BACKEND='vllm'\nR2_REGION=\n",
    );
    const cfg = loadConfig({
      env: { HOME, GRAIL_PIPELINE_VLLM_TP: "2", GRAIL_PIPELINE_MAX_NUM_SEQS: "512", R2_REGION: "auto" },
      envFile: file,
      registerSecrets: false,
    });
    expect(cfg.pipeline.tensorParallel).toBe(4);
    expect(cfg.pipeline.backend).toBe("vllm");
    expect(cfg.pipeline.maxNumSeqs).toBe(512);
    // an empty value in .env still overrides: the default applies
    expect(cfg.storage.region).toBe("us-east-1");
    expect(cfg.origin.envFile).toBe(file);
    expect(cfg.origin.settings.GRAIL_PIPELINE_VLLM_TP?.source).toBe(".env");
    expect(cfg.origin.settings.GRAIL_PIPELINE_MAX_NUM_SEQS?.source).toBe("environment");
  });

  test("other programs' variables in .env are kept for the processes the miner starts", () => {
    const file = writeFile(
      path.join(dir, "forward", ".env"),
      [
        "NCCL_P2P_DISABLE=1",
        "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1",
        "HF_HOME=/data/hf",
        "SGLANG_EMPTY=",
        "GRAIL_PIPELINE_VLLM_TP=2",
        "GRAIL_PIPLINE_VLLM_GPU=1",
        "HF_USERNAME=someone",
        "BT_PW__ROOT_WALLET=secret",
        "HF_TOKEN=hf_secret",
        "",
      ].join("\n"),
    );
    const cfg = loadConfig({ env: { HOME, NCCL_DEBUG: "INFO" }, envFile: file, registerSecrets: false });
    // Settings, misspellings, ignored reference variables, secrets read elsewhere and the process
    // environment (inherited anyway) stay out.
    expect(cfg.origin.forwarded).toEqual({
      NCCL_P2P_DISABLE: "1",
      SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN: "1",
    });
  });

  test("errors name the .env file as the source", () => {
    const file = writeFile(path.join(dir, "bad", ".env"), "GRAIL_PIPELINE_PROOF_GPU=x\n");
    const err = configError({}, { envFile: file });
    expect(err.issues[0]).toMatchObject({ variable: "GRAIL_PIPELINE_PROOF_GPU", source: ".env" });
    expect(err.message).toContain(`Fix them in ${file}`);
  });

  test("found from a sub-directory up to the workspace root, not beyond", () => {
    const root = path.join(dir, "workspace");
    writeFile(path.join(root, "pnpm-workspace.yaml"), "packages: []\n");
    const file = writeFile(path.join(root, ".env"), "BT_NETWORK=test\n");
    const cwd = path.join(root, "apps", "miner");
    writeFile(path.join(cwd, "placeholder"), "");
    const cfg = loadConfig({ env: { HOME }, cwd, registerSecrets: false });
    expect(cfg.origin.envFile).toBe(file);
    expect(cfg.chain.network).toBe("test");
    // outside a workspace only the working directory counts
    const outside = path.join(dir, "plain", "sub");
    writeFile(path.join(dir, "plain", ".env"), "BT_NETWORK=finney\n");
    writeFile(path.join(outside, "placeholder"), "");
    const plain = loadConfig({ env: { HOME }, cwd: outside, registerSecrets: false });
    expect(plain.origin.envFile).toBeNull();
    expect(plain.chain.network).toBe("local");
  });

  test("a named file that does not exist is an error; null reads none", () => {
    const err = configError({}, { envFile: path.join(dir, "missing.env") });
    expect(err.issues[0]).toMatchObject({ variable: ".env file", problem: "cannot be read (ENOENT)" });
    writeFile(path.join(dir, "ignored", ".env"), "BT_NETWORK=finney\n");
    const cfg = loadConfig({
      env: { HOME },
      envFile: null,
      cwd: path.join(dir, "ignored"),
      registerSecrets: false,
    });
    expect(cfg.chain.network).toBe("local");
  });
});

describe("chain", () => {
  test("named networks resolve to their endpoints", () => {
    expect(load({ BT_NETWORK: "finney" }).chain).toMatchObject({
      endpoint: "wss://entrypoint-finney.opentensor.ai:443",
      embeddedDevnet: false,
    });
    expect(load({ BT_NETWORK: "TEST" }).chain.endpoint).toBe("wss://test.finney.opentensor.ai:443");
  });

  test("custom needs BT_CHAIN_ENDPOINT; ws:// is added when missing", () => {
    const err = configError({ BT_NETWORK: "custom" });
    expect(err.issues[0]).toMatchObject({
      variable: "BT_CHAIN_ENDPOINT",
      value: null,
      problem: "is required when BT_NETWORK=custom",
    });
    expect(load({ BT_NETWORK: "custom", BT_CHAIN_ENDPOINT: "10.0.0.5:9944" }).chain.endpoint).toBe(
      "ws://10.0.0.5:9944",
    );
  });

  test("an explicit endpoint wins over the network, also for local", () => {
    expect(load({ BT_NETWORK: "finney", BT_CHAIN_ENDPOINT: "wss://my.node:443" }).chain.endpoint).toBe(
      "wss://my.node:443",
    );
    expect(load({ BT_CHAIN_ENDPOINT: "127.0.0.1:9944" }).chain).toMatchObject({
      network: "local",
      endpoint: "ws://127.0.0.1:9944",
      embeddedDevnet: false,
    });
    expect(configError({ BT_CHAIN_ENDPOINT: "ws://" }).issues[0]!.variable).toBe("BT_CHAIN_ENDPOINT");
  });

  test("BT_NETUID wins over NETUID", () => {
    expect(load({ NETUID: "81" }).chain.netuid).toBe(81);
    expect(load({ NETUID: "81", BT_NETUID: "3" }).chain.netuid).toBe(3);
  });

  test("local network: block time, window count, chain and chain spec", () => {
    const defaults = load();
    expect(defaults.chain).toMatchObject({
      devnetBlockTimeSeconds: 2,
      devnetWindows: 0,
      devnetChain: "chopsticks",
      devnetChainSpec: null,
    });
    const set = load({
      GRAIL_DEVNET_BLOCK_TIME: "0.5",
      GRAIL_DEVNET_WINDOWS: "3",
      GRAIL_DEVNET_CHAIN: "embedded",
      GRAIL_DEVNET_CHAIN_SPEC: "~/specs/raonet.json",
    });
    expect(set.chain).toMatchObject({
      devnetBlockTimeSeconds: 0.5,
      devnetWindows: 3,
      devnetChain: "embedded",
      devnetChainSpec: `${HOME}/specs/raonet.json`,
    });
    const err = configError({
      GRAIL_DEVNET_WINDOWS: "-1",
      GRAIL_DEVNET_BLOCK_TIME: "0",
      GRAIL_DEVNET_CHAIN: "substrate",
    });
    expect(err.message).toContain("GRAIL_DEVNET_WINDOWS");
    expect(err.message).toContain("GRAIL_DEVNET_BLOCK_TIME");
    expect(err.message).toContain("GRAIL_DEVNET_CHAIN");
  });

  test("local network datasets: the bundled problem sets by default, the real datasets on request", () => {
    expect(load().chain.devnetDatasets).toBe("bundled");
    expect(load({ GRAIL_DEVNET_DATASETS: "real" }).chain.devnetDatasets).toBe("real");
    expect(configError({ GRAIL_DEVNET_DATASETS: "cached" }).message).toMatch(
      /GRAIL_DEVNET_DATASETS="cached" .*allowed: one of bundled, real/,
    );
  });

  test("the watchdog's window count: 5 by default, 0 turns it off, negative refused", () => {
    expect(load().pipeline.watchdogWindows).toBe(5);
    expect(load({ GRAIL_WATCHDOG_WINDOWS: "0" }).pipeline.watchdogWindows).toBe(0);
    expect(configError({ GRAIL_WATCHDOG_WINDOWS: "-1" }).message).toContain("GRAIL_WATCHDOG_WINDOWS");
  });

  test("the Python interpreter of the sandbox, the MATH judge and torch workers: python3 unless set", () => {
    expect(load().pipeline.python).toBe("python3");
    expect(load({ GRAIL_PYTHON: " /opt/py312/bin/python " }).pipeline.python).toBe("/opt/py312/bin/python");
    expect(load({ GRAIL_PYTHON: "" }).pipeline.python).toBe("python3");
  });

  test("the proof engine's switches: no per-stage profile, prompts shared, unless set", () => {
    expect(load().pipeline).toMatchObject({ engineProfile: false, engineSharePrompts: true });
    const set = load({ GRAIL_ENGINE_PROFILE: "1", GRAIL_ENGINE_SHARE_PROMPTS: "0" });
    expect(set.pipeline).toMatchObject({ engineProfile: true, engineSharePrompts: false });
    expect(set.origin.unknown).toEqual([]);
    const err = configError({ GRAIL_ENGINE_PROFILE: "on" });
    expect(err.issues.map((i) => i.variable)).toEqual(["GRAIL_ENGINE_PROFILE"]);
    expect(err.message).toContain("true/false, 1/0 or yes/no");
  });

  test("--no-drand and GRAIL_DRAND", () => {
    expect(load({}, { argv: ["--no-drand"] }).chain.useDrand).toBe(false);
    expect(load({ GRAIL_DRAND: "false" }).chain.useDrand).toBe(false);
    const flagWins = load({ GRAIL_DRAND: "false" }, { argv: ["--use-drand"] });
    expect(flagWins.chain.useDrand).toBe(true);
    expect(flagWins.origin.settings.GRAIL_DRAND?.source).toBe("command line");
  });

  test("verbosity flags; --help is left to the caller; unknown options are errors", () => {
    expect(load({}, { argv: ["-v"] }).logging.verbosity).toBe(1);
    expect(load({}, { argv: ["-vv", "--help"] }).logging.verbosity).toBe(2);
    expect(configError({}, { argv: ["--network=finney"] }).issues[0]).toMatchObject({
      variable: "command line",
      value: "--network=finney",
      problem: "is not a known option",
    });
  });
});

describe("wallet and paths", () => {
  test("wallet names cannot escape the wallet directory", () => {
    for (const name of ["../x", "a/b", ".hidden", "-rf", "a b"]) {
      expect(configError({ BT_WALLET_COLD: name }).issues[0]!.variable).toBe("BT_WALLET_COLD");
    }
    expect(load({ BT_WALLET_COLD: "miner_1", BT_WALLET_HOT: "hk.2-a" }).wallet).toMatchObject({
      coldkey: "miner_1",
      hotkey: "hk.2-a",
    });
  });

  test("~ expands to the home directory, relative paths resolve against the working directory", () => {
    const cfg = load({
      BT_WALLET_PATH: "~/w",
      GRAIL_CACHE_DIR: "cache",
      GRAIL_SPOOL_DIR: "/var/spool/grail",
      GRAIL_LOG_FILE: "~",
    });
    expect(cfg.wallet.path).toBe(`${HOME}/w`);
    expect(cfg.paths.cacheDir).toBe("/srv/miner/cache");
    expect(cfg.paths.checkpointDir).toBe("/srv/miner/cache/checkpoints");
    expect(cfg.paths.spoolDir).toBe("/var/spool/grail");
    expect(cfg.logging.file?.path).toBe(HOME);
  });

  test("log file rotation settings", () => {
    const cfg = load({
      GRAIL_LOG_FILE: "/var/log/miner.log",
      GRAIL_LOG_MAX_SIZE: "10MB",
      GRAIL_LOG_BACKUP_COUNT: "2",
    });
    expect(cfg.logging.file).toEqual({
      path: "/var/log/miner.log",
      maxSizeBytes: 10 * 1024 * 1024,
      maxFiles: 2,
    });
    expect(cfg.origin.settings.GRAIL_LOG_MAX_SIZE?.display).toBe("10MB");
  });
});

describe("storage", () => {
  const ACCOUNT = "0123456789abcdef0123456789abcdef";

  test("both pairs, endpoint override and path style", () => {
    const cfg = load({
      R2_ACCOUNT_ID: ACCOUNT,
      R2_BUCKET_ID: ACCOUNT,
      R2_READ_ACCESS_KEY_ID: "read-id",
      R2_READ_SECRET_ACCESS_KEY: "read-secret",
      R2_WRITE_ACCESS_KEY_ID: "write-id",
      R2_WRITE_SECRET_ACCESS_KEY: "write-secret",
      R2_ENDPOINT_URL: "http://127.0.0.1:4569/",
      R2_FORCE_PATH_STYLE: "true",
    });
    expect(cfg.storage).toMatchObject({
      read: { accessKeyId: "read-id", secretAccessKey: "read-secret" },
      write: { accessKeyId: "write-id", secretAccessKey: "write-secret" },
      endpointUrl: "http://127.0.0.1:4569",
      forcePathStyle: true,
    });
  });

  test("half a key pair, a bucket unlike the account, over-long committed fields, a bad endpoint", () => {
    const err = configError({
      R2_ACCOUNT_ID: ACCOUNT,
      R2_BUCKET_ID: "my-bucket",
      R2_READ_ACCESS_KEY_ID: "x".repeat(33),
      R2_READ_SECRET_ACCESS_KEY: "s",
      R2_WRITE_SECRET_ACCESS_KEY: "write-secret",
      R2_ENDPOINT_URL: "ftp://example",
    });
    expect(err.issues.map((i) => [i.variable, i.problem])).toEqual([
      ["R2_READ_ACCESS_KEY_ID", "is too long"],
      ["R2_ENDPOINT_URL", "uses ftp: instead of http: or https:"],
      ["R2_WRITE_ACCESS_KEY_ID", "is required when R2_WRITE_SECRET_ACCESS_KEY is set"],
      [
        "R2_BUCKET_ID",
        `differs from R2_ACCOUNT_ID; the on-chain commitment carries only the account id, so validators read the bucket named "${ACCOUNT}"`,
      ],
    ]);
  });

  test("committed fields are printable ASCII without spaces, as the on-chain commitment requires", () => {
    const err = configError({
      R2_ACCOUNT_ID: "compte\u00e9",
      R2_BUCKET_ID: "compte\u00e9",
      R2_READ_ACCESS_KEY_ID: "cl\u00e9-de-lecture",
      R2_READ_SECRET_ACCESS_KEY: "read secret",
    });
    const allowed =
      "printable ASCII without spaces (the on-chain commitment carries it as 1 byte per character), at most";
    expect(err.issues.map((i) => [i.variable, i.value, i.problem, i.allowed])).toEqual([
      [
        "R2_ACCOUNT_ID",
        "compte\u00e9",
        "has a non-ASCII character at position 7",
        `${allowed} 32 characters`,
      ],
      [
        "R2_READ_ACCESS_KEY_ID",
        "cl\u00e9-de-lecture",
        "has a non-ASCII character at position 3",
        `${allowed} 32 characters`,
      ],
      ["R2_READ_SECRET_ACCESS_KEY", "[redacted]", "has a space at position 5", `${allowed} 64 characters`],
    ]);
    // the write pair stays local: any text is fine there
    expect(
      load({ R2_WRITE_ACCESS_KEY_ID: "cl\u00e9 locale", R2_WRITE_SECRET_ACCESS_KEY: "s" }).storage.write,
    ).toEqual({
      accessKeyId: "cl\u00e9 locale",
      secretAccessKey: "s",
    });
  });
});

describe("pipeline lists and commands", () => {
  test("proof GPU ids, engines and launch commands", () => {
    const cfg = load({
      GRAIL_PIPELINE_PROOF_GPU_IDS: " 4, 5,6 ,7",
      GRAIL_PIPELINE_PROOF_ENGINE: "native,5:torch",
      GRAIL_PIPELINE_SGLANG_COMMAND: `docker run --rm --gpus all "lmsys/sglang:v0.5" python3 -m sglang.launch_server --arg 'a b'`,
      CUDA_VISIBLE_DEVICES: "GPU-8f1c,1",
    });
    expect(cfg.pipeline.proofGpuIds).toEqual([4, 5, 6, 7]);
    expect(cfg.pipeline.proofGpus).toEqual([4, 5, 6, 7]);
    expect(cfg.pipeline.proofEngine).toEqual({ default: "native", perGpu: { 5: "torch" } });
    expect(cfg.pipeline.sglangCommand).toEqual([
      "docker",
      "run",
      "--rm",
      "--gpus",
      "all",
      "lmsys/sglang:v0.5",
      "python3",
      "-m",
      "sglang.launch_server",
      "--arg",
      "a b",
    ]);
    expect(cfg.pipeline.cudaVisibleDevices).toEqual(["GPU-8f1c", "1"]);
    expect(cfg.origin.settings.GRAIL_PIPELINE_PROOF_ENGINE?.display).toBe("native,5:torch");
    expect(cfg.origin.settings.GRAIL_PIPELINE_SGLANG_COMMAND?.display).toContain('"a b"');
  });

  test("bad lists say which entry is wrong", () => {
    const err = configError({
      GRAIL_PIPELINE_PROOF_GPU_IDS: "4,x",
      GRAIL_PIPELINE_PROOF_ENGINE: "4:native,4:torch",
      CUDA_VISIBLE_DEVICES: "0,gpu0",
    });
    expect(err.issues.map((i) => i.problem)).toEqual([
      'has the entry "x", which is not a whole number ≥ 0',
      "names GPU 4 twice",
      'has the entry "gpu0", which is neither a device index nor a GPU-/MIG- UUID',
    ]);
  });
});

test("ConfigError is an Error with the issues attached", () => {
  const err = configError({ GRAIL_PIPELINE_VLLM_TP: "abc" });
  expect(err).toBeInstanceOf(Error);
  expect(err).toBeInstanceOf(ConfigError);
  expect(err.name).toBe("ConfigError");
  expect(Object.isFrozen(err.issues)).toBe(true);
});
