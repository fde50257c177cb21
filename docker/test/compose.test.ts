import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { checkGpuLayout, loadConfig, readEnvFile } from "@grail/config";
import { ProtocolViolationError } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

/**
 * The compose file's default GPU layout goes through the same configuration loading and layout
 * check the miner runs at start, with the eight GPUs the file is written for.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dockerDir = path.join(repoRoot, "docker");
const composeFile = path.join(dockerDir, "docker-compose.yml");
const compose = parse(readFileSync(composeFile, "utf8"));
const miner = compose.services.miner;
const dockerfile = readFileSync(path.join(dockerDir, "Dockerfile"), "utf8");
const OPERATOR_ENV = "../.env";
const GPUS_ON_THE_BOX = 8;

/** compose's `environment:` as a map, whether written as a mapping or as KEY=VALUE items. */
function environmentOf(service: { environment?: unknown }): Record<string, string> {
  const env = service.environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((item: string) => {
        const eq = item.indexOf("=");
        return [item.slice(0, eq), item.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

/** compose's interpolation with every variable unset: `${VAR:-default}` and `${VAR-default}` give the default. */
function interpolate(text: string): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g,
    (_whole, _name, def?: string) => def ?? "",
  );
}

function envFilesOf(service: { env_file?: unknown }): string[] {
  const files = service.env_file;
  if (files === undefined) return [];
  return (Array.isArray(files) ? files : [files]).map((f: string | { path: string }) =>
    typeof f === "string" ? f : f.path,
  );
}

/**
 * What the miner process sees with an empty operator .env: env files in order (later wins), then
 * `environment:` (wins over env files), as compose resolves them.
 */
function minerEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const file of envFilesOf(miner)) {
    if (file === OPERATOR_ENV) continue;
    Object.assign(env, readEnvFile(path.join(dockerDir, file)));
  }
  return { ...env, ...environmentOf(miner) };
}

function minerConfig(env: Record<string, string>) {
  return loadConfig({ env, envFile: null, cwd: repoRoot, homeDir: "/home/grail", registerSecrets: false });
}

describe("docker-compose.yml: the miner's GPU layout", () => {
  const env = minerEnvironment();
  const cfg = minerConfig(env);

  it("loads through the miner's configuration and passes its GPU layout check on 8 GPUs", () => {
    const visible = cfg.pipeline.cudaVisibleDevices;
    expect(visible).toEqual(["0", "1", "2", "3", "4", "5", "6", "7"]);
    const layout = checkGpuLayout(cfg.pipeline, visible?.length ?? GPUS_ON_THE_BOX);
    expect(layout.generationGpus).toEqual([0, 1, 2, 3]);
    expect(layout.proofGpus).toEqual([4, 5, 6, 7]);
    expect(layout.summary).toBe("visible GPUs 0..7; generation TP=4 on [0,1,2,3]; proof [4,5,6,7]");
  });

  it("is the miner guide's eight-GPU example", () => {
    expect(cfg.pipeline).toMatchObject({
      backend: "sglang",
      tensorParallel: 4,
      proofGpu: 4,
      proofSubprocess: true,
      groupsPerBatch: 72,
      gpuMemUtil: 0.88,
      maxModelLen: 4096,
      maxNumSeqs: 512,
      maxConcurrent: 512,
      proofFlashAttn: false,
    });
    expect(cfg.monitoring.backend).toBe("prometheus");
  });

  it("agrees with the eight-GPU example in .env.example", () => {
    const example = readFileSync(path.join(repoRoot, ".env.example"), "utf8");
    const block = example.slice(example.indexOf("Example: eight GPUs"));
    const documented = Object.fromEntries(
      [...block.matchAll(/^# ([A-Z][A-Z0-9_]*)=(\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
    expect(Object.keys(documented).length).toBeGreaterThanOrEqual(10);
    for (const [key, value] of Object.entries(documented)) expect(env[key], key).toBe(value);
  });

  it("would be refused by the same check when the layout does not fit", () => {
    const tooWide = minerConfig({ ...env, GRAIL_PIPELINE_VLLM_TP: "5" });
    expect(() => checkGpuLayout(tooWide.pipeline, GPUS_ON_THE_BOX)).toThrow(ProtocolViolationError);
    expect(() => checkGpuLayout(tooWide.pipeline, GPUS_ON_THE_BOX)).toThrow(
      /proof GPU 4 overlaps generation/,
    );
    const fourGpus = minerConfig({ ...env, CUDA_VISIBLE_DEVICES: "0,1,2,3" });
    expect(() => checkGpuLayout(fourGpus.pipeline, 4)).toThrow(/out of range/);
  });

  it("offers the recommended data-parallel layouts, which load over the defaults and pass the layout check", () => {
    const text = readFileSync(path.join(dockerDir, "miner-8gpu.env"), "utf8");
    const block = (heading: string) => {
      const from = text.indexOf(`# ${heading}:`);
      const to = text.indexOf("\n#\n", from);
      return Object.fromEntries(
        [...text.slice(from, to === -1 ? undefined : to).matchAll(/^# ([A-Z][A-Z0-9_]*)=(\S*)$/gm)].map(
          (m) => [m[1] as string, m[2] as string],
        ),
      );
    };
    const eight = minerConfig({ ...env, ...block("Eight GPUs") });
    expect(checkGpuLayout(eight.pipeline, 8).summary).toBe(
      "visible GPUs 0..7; generation TP=4 × DP=2 on [0,1,2,3,4,5,6,7]; proof [2,3,6,7] beside generation",
    );
    const four = minerConfig({ ...env, ...block("Four GPUs") });
    expect(checkGpuLayout(four.pipeline, 4).summary).toBe(
      "visible GPUs 0..3; generation TP=2 × DP=2 on [0,1,2,3]; proof [1,2,3] beside generation",
    );
    expect(four.pipeline.groupsPerBatch).toBe(192);
  });

  it("lets the operator's .env override the defaults and keeps container paths fixed", () => {
    const files = envFilesOf(miner);
    expect(files.at(-1)).toBe(OPERATOR_ENV);
    expect(files.slice(0, -1).every((f) => existsSync(path.join(dockerDir, f)))).toBe(true);
    for (const key of Object.keys(environmentOf(miner))) {
      expect(key).not.toMatch(/^GRAIL_PIPELINE_|^CUDA_VISIBLE_DEVICES$/);
    }
  });

  it("writes env files that compose and the miner parse alike (plain KEY=VALUE lines)", () => {
    for (const file of envFilesOf(miner).filter((f) => f !== OPERATOR_ENV)) {
      for (const line of readFileSync(path.join(dockerDir, file), "utf8").split("\n")) {
        if (line === "" || line.startsWith("#")) continue;
        expect(line).toMatch(/^[A-Z][A-Z0-9_]*=[^\s"'#]*$/);
      }
    }
  });
});

describe("docker-compose.yml: the miner service", () => {
  const env = minerEnvironment();
  const cfg = minerConfig(env);
  const mounts: string[] = miner.volumes;
  const target = (mount: string) => interpolate(mount).split(":")[1];

  it("reserves every GPU through the NVIDIA driver", () => {
    expect(miner.deploy.resources.reservations.devices).toEqual([
      { driver: "nvidia", count: "all", capabilities: ["gpu"] },
    ]);
  });

  it("mounts the wallets read-only and the cache where the configuration points", () => {
    expect(cfg.wallet.path).toBe("/home/grail/.bittensor/wallets");
    expect(cfg.paths.cacheDir).toBe("/data/cache");
    const wallets = mounts.find((m) => target(m) === cfg.wallet.path);
    expect(wallets?.endsWith(":ro")).toBe(true);
    expect(mounts.some((m) => target(m) === cfg.paths.cacheDir)).toBe(true);
    const volumes = /^VOLUME \[(.*)\]$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(`[${volumes}]`).sort()).toEqual([cfg.paths.cacheDir, cfg.wallet.path].sort());
  });

  it("keeps the datasets on the cache volume, so a re-created container does not fetch them again", () => {
    // The datasets live under <GRAIL_CACHE_DIR>/datasets (tables and downloads): on the mounted volume.
    expect(mounts.some((m) => target(m) === cfg.paths.cacheDir)).toBe(true);
    expect(env.GRAIL_DATA_DIR).toBeUndefined();
    expect(dockerfile).not.toContain("GRAIL_DATA_DIR");
  });

  it("serves metrics where Prometheus scrapes them and where the health check asks", () => {
    expect(cfg.monitoring.prometheus).toEqual({ host: "0.0.0.0", port: 9464 });
    const scrape = parse(readFileSync(path.join(dockerDir, "prometheus/prometheus.yml"), "utf8"));
    expect(scrape.scrape_configs[0].static_configs[0].targets).toEqual([
      `miner:${cfg.monitoring.prometheus.port}`,
    ]);
    expect(miner.ports).toEqual([
      `127.0.0.1:${cfg.monitoring.prometheus.port}:${cfg.monitoring.prometheus.port}`,
    ]);
    expect(miner.healthcheck.test).toEqual(["CMD", "node", "/app/scripts/ops/healthcheck.mjs"]);
    expect(existsSync(path.join(repoRoot, "scripts/ops/healthcheck.mjs"))).toBe(true);
  });

  it("restarts, rotates logs, has shared memory for NCCL and time to stop cleanly", () => {
    expect(miner.restart).toBe("unless-stopped");
    expect(miner.logging).toEqual({ driver: "json-file", options: { "max-size": "100m", "max-file": "5" } });
    expect(miner.shm_size).toMatch(/^\d+gb$/);
    expect(miner.stop_grace_period).toBe("90s");
    expect(miner.build).toMatchObject({ context: "..", dockerfile: "docker/Dockerfile" });
  });

  it("keeps Prometheus and Grafana behind the monitoring profile with their files present", () => {
    for (const name of ["prometheus", "grafana"]) {
      const service = compose.services[name];
      expect(service.profiles).toEqual(["monitoring"]);
      expect(service.image).toMatch(/:v?\d+\.\d+\.\d+$/);
      for (const volume of service.volumes as string[]) {
        const source = volume.split(":")[0] as string;
        if (source.startsWith(".")) expect(existsSync(path.join(dockerDir, source)), source).toBe(true);
      }
    }
    expect(miner.profiles).toBeUndefined();
  });
});
