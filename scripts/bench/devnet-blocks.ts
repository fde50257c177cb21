// How fast the real subtensor runtime builds blocks under chopsticks on this machine, and which block
// time the local network can hold: the raw cost of one block (dev_newBlock), then the intervals the
// local network's chain produces at each block time asked for (default 2 s and 1 s, 20 blocks each).
// Usage: pnpm bench devnet-blocks [--blocks N] [--block-times 2,1]
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { localChainSpec, startLocalChopsticks } from "../../packages/chain/src/testing/index.js";
import { startChopsticksChain } from "../../packages/devnet/src/chain/chopsticks-chain.js";
import { devnetHotkey } from "../../packages/devnet/src/devnet.js";

const { values } = parseArgs({
  options: { blocks: { type: "string", default: "20" }, "block-times": { type: "string", default: "2,1" } },
});
const blocks = Number(values.blocks);
const blockTimes = values["block-times"].split(",").map((s) => Math.round(Number(s) * 1000));

function stats(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `mean ${mean.toFixed(0)} ms, median ${p(0.5).toFixed(0)}, p90 ${p(0.9).toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)}`;
}

const genesis = localChainSpec();
let t = performance.now();
const raw = await startLocalChopsticks({ genesis, buildBlockMode: "Manual" });
console.log(`chopsticks start (spec 218): ${((performance.now() - t) / 1000).toFixed(1)} s`);
const builds: number[] = [];
for (let i = 0; i < blocks; i++) {
  t = performance.now();
  await raw.newBlock();
  builds.push(performance.now() - t);
}
await raw.close();
console.log(`one block (dev_newBlock, empty): ${stats(builds)}`);

for (const blockTimeMs of blockTimes) {
  const trainer = await devnetHotkey("bench-trainer");
  t = performance.now();
  const chain = await startChopsticksChain({ genesis, blockTimeMs, trainerHotkey: trainer.ss58 });
  const setup = (performance.now() - t) / 1000;
  const seen: number[] = [];
  await new Promise<void>((done) => {
    chain.onBlock(() => {
      seen.push(performance.now());
      if (seen.length > blocks) done();
    });
    chain.start();
  });
  await chain.close();
  const intervals = seen.slice(1).map((at, i) => at - seen[i]!);
  const mean = intervals.reduce((a, b) => a + b, 0) / intervals.length;
  console.log(
    `block time ${blockTimeMs / 1000} s (set-up ${setup.toFixed(1)} s): intervals ${stats(intervals)}; ` +
      `a 30-block window takes ${((mean * 30) / 1000).toFixed(0)} s`,
  );
}
