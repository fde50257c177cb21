import { type DrandClient, type SubtensorClient, WindowClock, windowRandomness } from "@grail/chain";
import type { Logger } from "@grail/log";
import type { MiningChain, RandomnessSource } from "@grail/pipeline";

/** The chain as the window loop reads it: best head, block hashes, and waiting on new heads. */
export function miningChain(client: SubtensorClient): MiningChain {
  const clock = new WindowClock(client, { pollIntervalMs: 1_000 });
  return {
    currentBlock: () => client.currentBlock(),
    blockHash: (block) => client.blockHash(block),
    waitForBlock: (target, signal) => clock.waitForBlock(target, signal),
    subscribeHeads: (onHead) => client.subscribeNewHeads((head) => onHead(head.number)),
  };
}

/** Window randomness from the block hash and, unless `--no-drand`, the latest verified drand beacon. */
export function randomnessSource(drand: DrandClient | null, logger: Logger): RandomnessSource {
  const log = logger.child({ component: "drand" });
  return {
    drandEnabled: drand !== null,
    forWindow: async (blockHash) => {
      const r = await windowRandomness(blockHash, drand, log);
      return { randomness: r.randomness, useDrand: r.useDrand };
    },
  };
}
