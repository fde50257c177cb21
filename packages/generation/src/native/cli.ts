#!/usr/bin/env node
import { parseArgs } from "node:util";
import { createLogger } from "@grail/log";
import { loadLogitsModel } from "./logits-model.js";
import { NativeGenerationServer } from "./server.js";

/**
 * Standalone native generation server. Accepts the flags of `sglang.launch_server` and of vLLM's
 * OpenAI server (the ones the launchers pass), so the same supervisor and launch builders start it;
 * GPU-only flags are accepted and ignored.
 */
const STRING_FLAGS = [
  "model-path",
  "model",
  "served-model-name",
  "host",
  "port",
  "context-length",
  "max-model-len",
  "max-running-requests",
  "max-num-seqs",
  "random-seed",
  "seed",
  "backend",
] as const;

async function main(): Promise<void> {
  const { values, tokens } = parseArgs({
    args: process.argv.slice(2),
    options: Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const get = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === "string" ? v : undefined;
  };
  // Human lines on stderr at every level: the supervisor keeps them as the server's log tail.
  const log = createLogger({
    verbosity: 2,
    json: false,
    colour: false,
    stream: process.stderr,
    fields: { server: "native" },
  });
  const ignored = (tokens ?? [])
    .filter((t) => t.kind === "option" && !(STRING_FLAGS as readonly string[]).includes(t.name))
    .map((t) => (t.kind === "option" ? `--${t.name}` : ""));
  if (ignored.length > 0) log.info(`ignoring GPU-server flags: ${ignored.join(" ")}`);

  const modelPath = get("model-path") ?? get("model");
  if (!modelPath) {
    log.error("missing --model-path (SGLang) or --model (vLLM)");
    process.exit(2);
  }
  const intFlag = (names: string[], fallback: number | undefined): number | undefined => {
    for (const n of names) {
      const v = get(n);
      if (v === undefined) continue;
      const parsed = Number(v);
      if (!Number.isInteger(parsed)) {
        log.error(`--${n} must be an integer, got ${v}`);
        process.exit(2);
      }
      return parsed;
    }
    return fallback;
  };
  const backend = get("backend");
  // The supervisor pins this process to the server's GPU range through the environment.
  const devices = process.env.CUDA_VISIBLE_DEVICES ?? null;
  const server = await NativeGenerationServer.start({
    modelPath,
    servedModelName: get("served-model-name") ?? modelPath.split("/").filter(Boolean).pop() ?? "model",
    host: get("host") ?? "127.0.0.1",
    port: intFlag(["port"], 30000)!,
    contextLength: intFlag(["context-length", "max-model-len"], 12288)!,
    maxRunningRequests: intFlag(["max-running-requests", "max-num-seqs"], 256)!,
    randomSeed: intFlag(["random-seed", "seed"], 0)!,
    loadModel: (dir) => loadLogitsModel(dir, backend === "cpu" || backend === "cuda" ? { backend } : {}),
    logger: log,
    cudaVisibleDevices: devices,
  });
  log.info(`ready on ${server.url} (CUDA_VISIBLE_DEVICES=${devices ?? ""})`);
  const shutdown = (signal: string) => {
    log.info(`${signal}: shutting down`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(`native generation server failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
