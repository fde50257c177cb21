#!/usr/bin/env node
// Benchmark launcher (`pnpm bench [name] [args…]`). Benchmarks print figures; none of them asserts a
// time. Without a name it lists them; `all` runs every one that needs no GPU, one after another.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tsx = [process.execPath, path.join(root, "node_modules/tsx/dist/cli.mjs"), "--conditions=source"];
const node = [process.execPath];

/** name → [description, command, needs a GPU machine] */
const BENCHMARKS = {
  coordinator: [
    "coordinator overhead: rollouts/s signed, packaged and written with instant generation and proofs",
    [...node, "scripts/bench/coordinator-overhead.mjs"],
    false,
  ],
  layout: [
    "layout advisor: predicted rollouts/window per GPU layout (also `pnpm bench:layout`)",
    [...node, "scripts/bench/layout-advisor.mjs"],
    false,
  ],
  rewards: [
    "reward throughput per environment with the code sandbox pool",
    [...tsx, "packages/environments/bench/reward-throughput.ts"],
    false,
  ],
  generation: [
    "native generation server and SGLang client on loopback",
    [...node, "scripts/generation/bench-native-server.mjs"],
    false,
  ],
  "devnet-blocks": [
    "the local network's real subtensor runtime: block build cost and the block times it holds",
    [...tsx, "scripts/bench/devnet-blocks.ts"],
    false,
  ],
  "engine-cpu": ["proof engine CPU backend on a tiny model", [...tsx, "scripts/engine/bench-cpu.ts"], false],
  proof: [
    "proof engine vs the HF reference on one GPU (GPU machine: scripts/bench/proof/device-bench.sh)",
    ["bash", "scripts/bench/proof/device-bench.sh"],
    true,
  ],
};

function run(name, args) {
  const [, command] = BENCHMARKS[name];
  console.log(
    `\n== ${name}: ${command.slice(command[0] === process.execPath ? 1 : 0).join(" ")} ${args.join(" ")}`,
  );
  const result = spawnSync(command[0], [...command.slice(1), ...args], { cwd: root, stdio: "inherit" });
  return result.status ?? 1;
}

const [name, ...args] = process.argv.slice(2);
if (!name || name === "--help" || name === "-h") {
  console.log("usage: pnpm bench <name> [args…] | pnpm bench all\n");
  for (const [key, [description, , gpu]] of Object.entries(BENCHMARKS)) {
    console.log(`  ${key.padEnd(12)} ${description}${gpu ? " [GPU]" : ""}`);
  }
  process.exit(0);
}
if (name === "all") {
  let failed = 0;
  for (const [key, [, , gpu]] of Object.entries(BENCHMARKS)) if (!gpu && run(key, []) !== 0) failed++;
  process.exit(failed === 0 ? 0 : 1);
}
if (!(name in BENCHMARKS)) {
  console.error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHMARKS).join(", ")}, all`);
  process.exit(2);
}
process.exit(run(name, args));
