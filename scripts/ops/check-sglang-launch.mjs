#!/usr/bin/env node
// Checks that the installed SGLang accepts every flag the miner's launcher passes: runs the launch
// command with --help and looks for each flag that sglangServerArgs produces (with every optional
// flag switched on). Run at image build time (docker/Dockerfile) and after upgrading SGLang:
//
//   node scripts/ops/check-sglang-launch.mjs [launch command…]   (default: python3 -m sglang.launch_server)
//
// Needs @grail/generation built. Exit status: 0 all flags known, 1 a flag is missing or --help failed.
import { spawnSync } from "node:child_process";
import { SGLANG_DEFAULT_COMMAND, sglangServerArgs } from "../../packages/generation/dist/index.js";

const command = process.argv.length > 2 ? process.argv.slice(2) : [...SGLANG_DEFAULT_COMMAND];
const args = sglangServerArgs({
  modelPath: "/models/checkpoint-0",
  servedModelName: "checkpoint-0",
  host: "127.0.0.1",
  port: 30000,
  options: {
    gpuStart: 0,
    tp: 4,
    dp: 2,
    memFraction: 0.88,
    contextLength: 4096,
    sglangMaxRunningRequests: 512,
    disableCudaGraph: true,
  },
});
const flags = args.filter((a) => a.startsWith("--"));

const help = spawnSync(command[0], [...command.slice(1), "--help"], {
  encoding: "utf8",
  timeout: 600_000,
  maxBuffer: 64 * 1024 * 1024,
});
if (help.error || help.status !== 0) {
  console.error(`${command.join(" ")} --help failed (${help.error?.message ?? `exit ${help.status}`}):`);
  console.error((help.stderr ?? "").split("\n").slice(-40).join("\n"));
  process.exit(1);
}
const text = `${help.stdout}\n${help.stderr}`;
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const missing = flags.filter(
  (f) => !new RegExp(`(^|[\\s,\\[(])${escapeRegExp(f)}(?=[\\s,=\\])]|$)`, "m").test(text),
);
if (missing.length > 0) {
  console.error(
    `${command.join(" ")} does not know ${missing.join(", ")}; the miner's launcher passes them (packages/generation/src/sglang/launch.ts)`,
  );
  process.exit(1);
}
console.log(`${command.join(" ")}: all ${flags.length} launch flags known (${flags.join(" ")})`);
