import { ColocationError } from "@grail/generation";
import { describe, expect, it } from "vitest";
import { PipelineInitError } from "../src/mining/errors.js";
import { BackendStartError, type BackendStarters, startBackendPair } from "../src/wiring/backends-start.js";

/** Starters that record what happened, in order; each start resolves or rejects when told. */
function recorder() {
  const events: string[] = [];
  const pending: Record<string, { resolve: (v: string) => void; reject: (e: Error) => void }> = {};
  const start = (name: string) => () => {
    events.push(`start ${name}`);
    return new Promise<string>((resolve, reject) => {
      pending[name] = { resolve, reject };
    });
  };
  const starters: BackendStarters<string, string> = {
    generation: start("generation"),
    proofs: start("proofs"),
    stopGeneration: async (g) => {
      events.push(`stop ${g}`);
    },
    stopProofs: async (p) => {
      events.push(`stop ${p}`);
    },
  };
  /** Lets pending promise callbacks run. */
  const settle = () => new Promise((r) => setImmediate(r));
  return { events, pending, starters, settle };
}

describe("starting the generation server and the proof pool", () => {
  it("starts both at once when no proof GPU is a generation GPU", async () => {
    const { events, pending, starters, settle } = recorder();
    const started = startBackendPair(starters, "together");
    await settle();
    expect(events).toEqual(["start generation", "start proofs"]);
    pending.proofs!.resolve("pool");
    pending.generation!.resolve("server");
    expect(await started).toEqual({ generation: "server", proofs: "pool" });
  });

  it("starts the proof workers only once the co-located server is up", async () => {
    const { events, pending, starters, settle } = recorder();
    const started = startBackendPair(starters, "generation-first");
    await settle();
    expect(events).toEqual(["start generation"]);
    pending.generation!.resolve("server");
    await settle();
    expect(events).toEqual(["start generation", "start proofs"]);
    pending.proofs!.resolve("pool");
    expect(await started).toEqual({ generation: "server", proofs: "pool" });
  });

  it("starts no proof worker when the co-located server is refused, and says why", async () => {
    const { events, pending, starters, settle } = recorder();
    const started = startBackendPair(starters, "generation-first");
    await settle();
    pending.generation!.reject(new ColocationError("proof workers beside generation on GPU 3 need 74.0 GiB"));
    const err = await started.catch((e: unknown) => e);
    expect((err as Error).message).toBe("proof workers beside generation on GPU 3 need 74.0 GiB");
    expect(events).toEqual(["start generation"]);
    // A layout that cannot fit is a configuration a restart cannot cure: the miner exits 2, not 1.
    expect(err).toBeInstanceOf(BackendStartError);
    expect((err as BackendStartError).configuration).toBe(true);
    const init = new PipelineInitError("failed to start", { configuration: true });
    expect(init.exitCode).toBe(2);
    expect(new PipelineInitError("failed to start", { configuration: false }).exitCode).toBe(1);
  });

  it("stops the server when the proof pool then fails, naming the pool's failure", async () => {
    const { events, pending, starters, settle } = recorder();
    const started = startBackendPair(starters, "generation-first");
    await settle();
    pending.generation!.resolve("server");
    await settle();
    pending.proofs!.reject(new Error("no worker became ready"));
    await expect(started).rejects.toThrow(/^no worker became ready$/);
    expect(events).toEqual(["start generation", "start proofs", "stop server"]);
  });

  it("together: stops whichever started and names every failure", async () => {
    const { events, pending, starters, settle } = recorder();
    const started = startBackendPair(starters, "together");
    await settle();
    pending.generation!.reject(new Error("sglang exited"));
    pending.proofs!.resolve("pool");
    await expect(started).rejects.toThrow(/^sglang exited$/);
    expect(events).toEqual(["start generation", "start proofs", "stop pool"]);
  });
});
