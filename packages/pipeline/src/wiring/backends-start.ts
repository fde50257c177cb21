import { GenerationConfigError } from "@grail/generation";
import { MiningError } from "../mining/errors.js";

/**
 * The backends of the first checkpoint did not start. `configuration`: a failure that a restart
 * cannot cure (e.g. a co-location whose memory does not fit), so the miner exits 2, not 1.
 */
export class BackendStartError extends MiningError {
  get configuration(): boolean {
    return this.context.configuration === true;
  }
}

/** How to start and stop the generation server and the proof pool of the first checkpoint. */
export interface BackendStarters<G, P> {
  generation: () => Promise<G>;
  proofs: () => Promise<P>;
  stopGeneration: (generation: G) => Promise<void>;
  stopProofs: (proofs: P) => Promise<void>;
}

/**
 * Starts both backends: together, or the generation server first when proof workers share its GPUs,
 * so that the server sizes its memory on GPUs the proof workers have not taken yet (SGLang measures
 * the free memory at start). When one fails, the other is stopped and the error names every failure.
 */
export async function startBackendPair<G, P>(
  starters: BackendStarters<G, P>,
  order: "together" | "generation-first",
): Promise<{ generation: G; proofs: P }> {
  let generation: PromiseSettledResult<G>;
  let proofs: PromiseSettledResult<P> | null;
  if (order === "generation-first") {
    [generation] = await Promise.allSettled([starters.generation()]);
    proofs = generation.status === "fulfilled" ? (await Promise.allSettled([starters.proofs()]))[0] : null;
  } else {
    [generation, proofs] = await Promise.allSettled([starters.generation(), starters.proofs()]);
  }
  if (generation.status === "fulfilled" && proofs?.status === "fulfilled") {
    return { generation: generation.value, proofs: proofs.value };
  }
  if (generation.status === "fulfilled") await starters.stopGeneration(generation.value);
  if (proofs?.status === "fulfilled") await starters.stopProofs(proofs.value);
  const failed = [generation, proofs].filter((r): r is PromiseRejectedResult => r?.status === "rejected");
  const configuration = failed.some((r) => r.reason instanceof GenerationConfigError);
  throw new BackendStartError(failed.map((r) => (r.reason as Error).message).join("; "), { configuration });
}
