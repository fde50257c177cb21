import { describe, expect, it } from "vitest";
import { type ChainView, readCommitAllowance, requiredCommitSpace } from "../src/index.js";
import { loadFinney343 } from "./fixtures.js";

// Storage answers built with the finney spec 343 registry, so the values have the
// runtime's real types (UsageTracker, u32 MaxSpace, u16 Tempo, Option<u32>).
const md = loadFinney343();
const r = md.registry;
const NETUID = 81;
const TEMPO = 360;
const HOTKEY = "5E6xfU3oNU7y1a7pQwoc31fmUjwBZ2gKcNCw8EXsdtCQieUQ";

/** The epoch formula of runtimes before the per-subnet counter. */
const epochAt = (block: number) => Math.floor((block + NETUID + 1) / (TEMPO + 1));

function spaceView(options: {
  maxSpace?: number;
  usage?: { lastEpoch: number; usedSpace: number } | null;
  epochCounter?: number;
}): ChainView {
  const subtensorModule: Record<string, unknown> = {
    tempo: async (netuid: number) => {
      expect(netuid).toBe(NETUID);
      return r.createType("u16", TEMPO);
    },
  };
  if (options.epochCounter !== undefined) {
    subtensorModule.subnetEpochIndex = async () => r.createType("u64", options.epochCounter);
  }
  return {
    runtimeVersion: { specVersion: r.createType("u32", 343) },
    consts: md.decorated.consts,
    query: {
      commitments: {
        usedSpaceOf: async (netuid: number, who: string) => {
          expect([netuid, who]).toEqual([NETUID, HOTKEY]);
          return r.createType("Option<PalletCommitmentsUsageTracker>", options.usage ?? null);
        },
        maxSpace: async () => r.createType("u32", options.maxSpace ?? 3100),
      },
      subtensorModule,
    },
  } as unknown as ChainView;
}

describe("space-based commit limit (spec 343 and later)", () => {
  const block = 1_000_000;
  const epoch = epochAt(block);

  it("charges at least 100 bytes per commit", () => {
    expect(requiredCommitSpace(3)).toBe(100);
    expect(requiredCommitSpace(128)).toBe(128);
  });

  it("allows a first commit and one that still fits this epoch", async () => {
    expect((await readCommitAllowance(spaceView({}), NETUID, HOTKEY, block, 128)).allowed).toBe(true);
    const fits = await readCommitAllowance(
      spaceView({ usage: { lastEpoch: epoch, usedSpace: 3100 - 128 } }),
      NETUID,
      HOTKEY,
      block,
      128,
    );
    expect(fits.allowed).toBe(true);
  });

  it("refuses a commit over MaxSpace and names the first block of the next epoch", async () => {
    const full = await readCommitAllowance(
      spaceView({ usage: { lastEpoch: epoch, usedSpace: 3000 } }),
      NETUID,
      HOTKEY,
      block,
      128,
    );
    expect(full.allowed).toBe(false);
    expect(full.limit).toEqual({
      kind: "space",
      maxSpace: 3100,
      usedSpace: 3000,
      lastEpoch: epoch,
      currentEpoch: epoch,
      requiredSpace: 128,
    });
    const retryAt = full.retryAtBlock!;
    expect(epochAt(retryAt)).toBe(epoch + 1);
    expect(epochAt(retryAt - 1)).toBe(epoch);
  });

  it("resets the used space when the recorded epoch is an older one", async () => {
    const stale = await readCommitAllowance(
      spaceView({ usage: { lastEpoch: epoch - 1, usedSpace: 3100 } }),
      NETUID,
      HOTKEY,
      block,
      128,
    );
    expect(stale.allowed).toBe(true);
    expect(stale.limit).toMatchObject({ usedSpace: 0, currentEpoch: epoch });
  });

  it("uses the per-subnet epoch counter where the runtime has one", async () => {
    const counted = await readCommitAllowance(
      spaceView({ epochCounter: 7, usage: { lastEpoch: 7, usedSpace: 3100 } }),
      NETUID,
      HOTKEY,
      block,
      128,
    );
    expect(counted).toMatchObject({ allowed: false, retryAtBlock: null, limit: { currentEpoch: 7 } });
  });
});

describe("block-based commit limit (spec 218 and 240)", () => {
  const view = (last: number | null) =>
    ({
      runtimeVersion: { specVersion: r.createType("u32", 218) },
      consts: { commitments: { rateLimit: r.createType("u32", 100) } },
      query: {
        commitments: {
          lastCommitment: async () => r.createType("Option<u32>", last),
        },
      },
    }) as unknown as ChainView;

  it("allows a first commit, then one per RateLimit blocks", async () => {
    expect(await readCommitAllowance(view(null), NETUID, HOTKEY, 50, 128)).toEqual({
      allowed: true,
      retryAtBlock: 50,
      limit: { kind: "blocks", rateLimitBlocks: 100, lastCommitBlock: null },
    });
    expect(await readCommitAllowance(view(40), NETUID, HOTKEY, 139, 128)).toMatchObject({
      allowed: false,
      retryAtBlock: 140,
    });
    expect((await readCommitAllowance(view(40), NETUID, HOTKEY, 140, 128)).allowed).toBe(true);
  });
});
