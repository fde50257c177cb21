import type { MinerMetrics } from "@grail/metrics";
import type { PoolEvent } from "../pool/pool.js";

/** Something that reports proof-pool events (ProofPool). */
export interface PoolEventSource {
  on(listener: (e: PoolEvent) => void): () => void;
  stats(): { workers: { gpu: number; state: string; inFlight: number }[] };
}

/** Something that reports generation-server lifecycle events (ProcessSupervisor). */
export interface ServerEventSource {
  on(event: "ready" | "restarting" | "exit" | "failed", listener: (...args: unknown[]) => void): unknown;
}

/**
 * Proof-worker and generation-server health into the miner's metrics: worker up/down and restarts
 * from pool events, in-flight jobs sampled every `sampleMs`, server up/down and restarts from its
 * supervisor. Returns a function that stops the sampling and the subscription.
 */
export function monitorBackends(
  metrics: MinerMetrics,
  pool: PoolEventSource,
  server: ServerEventSource | null,
  sampleMs = 5_000,
): () => void {
  const restarts = new Map<number, number>();
  for (const w of pool.stats().workers) {
    metrics.proofWorkerUp.set(w.gpu, w.state === "ready" ? 1 : 0);
  }
  const unsubscribe = pool.on((e) => {
    if (e.type !== "worker") return;
    metrics.proofWorkerUp.set(e.gpu, e.state === "ready" ? 1 : 0);
    const before = restarts.get(e.gpu) ?? 0;
    if (e.restarts > before) {
      metrics.proofWorkerRestarts.inc(e.gpu, e.restarts - before);
      restarts.set(e.gpu, e.restarts);
    }
  });
  const timer = setInterval(() => {
    for (const w of pool.stats().workers) metrics.proofWorkerInFlight.set(w.gpu, w.inFlight);
  }, sampleMs);
  timer.unref();
  if (server) {
    metrics.generationServerUp.set(1);
    server.on("ready", () => metrics.generationServerUp.set(1));
    server.on("exit", () => metrics.generationServerUp.set(0));
    server.on("restarting", () => {
      metrics.generationServerUp.set(0);
      metrics.generationServerRestarts.inc();
    });
    server.on("failed", () => metrics.generationServerUp.set(0));
  }
  return () => {
    clearInterval(timer);
    unsubscribe();
  };
}
