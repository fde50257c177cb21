import { describe, expect, it } from "vitest";
import { ProofPool } from "../src/pool/index.js";
import { isAlive, poolOptions, testSigner, tinyModel, waitFor } from "./helpers.js";

describe("proof pool: health snapshot", () => {
  it("counts workers alive, restarting and lost as they die and come back", async () => {
    const pool = await ProofPool.start(
      poolOptions(tinyModel(), await testSigner(), {
        restartBackoffMs: [500],
        restartLimit: { count: 1, windowMs: 60_000 },
      }),
    );
    try {
      expect(pool.health()).toEqual({
        topology: "subprocess",
        fellBackFrom: null,
        fallbackReason: null,
        workers: 2,
        alive: 2,
        recovering: 0,
        lost: 0,
        closing: false,
      });
      const pids = pool.stats().workers.map((w) => w.pid!);
      for (const pid of pids) process.kill(pid, "SIGKILL");
      await waitFor(() => pool.health().alive === 0, 10_000, "both workers seen dead");
      expect(pool.health()).toMatchObject({ alive: 0, recovering: 2, lost: 0 });
      await waitFor(() => pool.health().alive === 2, 10_000, "both workers restarted");
      expect(pids.some(isAlive)).toBe(false);
      // A second crash within the restart limit's window disables the GPU: lost, not recovering.
      process.kill(pool.stats().workers[0]!.pid!, "SIGKILL");
      await waitFor(() => pool.health().lost === 1, 10_000, "worker 0 given up");
      expect(pool.health()).toMatchObject({ alive: 1, recovering: 0, lost: 1 });
    } finally {
      await pool.shutdown();
    }
    expect(pool.health()).toMatchObject({ closing: true });
  });
});
