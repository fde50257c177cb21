import type { RolloutInput, RolloutProof } from "@grail/engine-native";
import type { ProvedReply, ProveRequest } from "@grail/ipc";
import { commitBindingFromHash, hashCommitments, PROOF_BATCH_SIZE } from "@grail/protocol";
import type { EngineModel } from "./engine.js";

/**
 * Proves a request's rollouts in sub-batches of PROOF_BATCH_SIZE (the reference's forward batch) and
 * hashes each rollout's commitments and commit binding, which the coordinator signs.
 *
 * Every sub-batch is queued on the engine at once: the engine runs them back to back, and this thread
 * copies and hashes sub-batch b while the device proves b + 1, so the device does not idle between
 * sub-batches or while the request's hashes are computed.
 */
export async function proveBatch(
  model: EngineModel,
  req: ProveRequest,
  checkpointWindow: number,
): Promise<ProvedReply> {
  const t0 = performance.now();
  const n = req.lengths.length;
  const starts = new Int32Array(n + 1);
  const lpStarts = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    starts[i + 1] = starts[i]! + req.lengths[i]!;
    lpStarts[i + 1] = lpStarts[i]! + req.lengths[i]! - req.promptLens[i]!;
  }
  const rollouts: RolloutInput[] = Array.from({ length: n }, (_, i) => ({
    tokens: req.tokens.subarray(starts[i]!, starts[i + 1]!),
    promptLen: req.promptLens[i]!,
  }));
  const calls: Promise<RolloutProof[]>[] = [];
  for (let b = 0; b < n; b += PROOF_BATCH_SIZE) {
    const call = model.prove(rollouts.slice(b, b + PROOF_BATCH_SIZE), req.randomnessHex);
    // Awaited in order below; a failure is reported once, by the first failing call awaited.
    call.catch(() => undefined);
    calls.push(call);
  }
  const sVals = new Uint32Array(req.tokens.length);
  const logprobs = new Float32Array(lpStarts[n]!);
  const eosProbs = new Float64Array(n);
  const commitmentsHashes = new Uint8Array(n * 32);
  const bindingHashes = new Uint8Array(n * 32);
  let hashMs = 0;
  for (let c = 0; c < calls.length; c++) {
    const proofs = await calls[c]!;
    const h0 = performance.now();
    proofs.forEach((p, j) => {
      const i = c * PROOF_BATCH_SIZE + j;
      sVals.set(p.sVals, starts[i]!);
      logprobs.set(p.logprobs, lpStarts[i]!);
      eosProbs[i] = p.eosProb;
      const commitmentsHash = hashCommitments(p.sVals);
      commitmentsHashes.set(commitmentsHash, i * 32);
      bindingHashes.set(
        commitBindingFromHash({
          tokens: rollouts[i]!.tokens as Int32Array,
          randomnessHex: req.randomnessHex,
          modelName: req.modelName,
          layerIndex: req.layerIndex,
          commitmentsHash,
        }),
        i * 32,
      );
    });
    hashMs += performance.now() - h0;
  }
  const t1 = performance.now();
  return {
    type: "proved",
    id: req.id,
    checkpointWindow,
    proveMs: t1 - t0 - hashMs,
    hashMs,
    totalMs: t1 - t0,
    sVals,
    logprobs,
    eosProbs,
    commitmentsHashes,
    bindingHashes,
  };
}
