import type { RolloutInput } from "@grail/engine-native";
import type { ProvedReply, ProveRequest } from "@grail/ipc";
import { commitBindingFromHash, hashCommitments, PROOF_BATCH_SIZE } from "@grail/protocol";
import type { EngineModel } from "./engine.js";

/**
 * Proves a request's rollouts in sub-batches of PROOF_BATCH_SIZE (the reference's forward batch),
 * then hashes each rollout's commitments and commit binding, which the coordinator signs.
 */
export async function proveBatch(
  model: EngineModel,
  req: ProveRequest,
  checkpointWindow: number,
): Promise<ProvedReply> {
  const t0 = performance.now();
  const n = req.lengths.length;
  const starts = new Int32Array(n + 1);
  let completionTotal = 0;
  for (let i = 0; i < n; i++) {
    starts[i + 1] = starts[i]! + req.lengths[i]!;
    completionTotal += req.lengths[i]! - req.promptLens[i]!;
  }
  const rollouts: RolloutInput[] = Array.from({ length: n }, (_, i) => ({
    tokens: req.tokens.subarray(starts[i]!, starts[i + 1]!),
    promptLen: req.promptLens[i]!,
  }));
  const sVals = new Uint32Array(req.tokens.length);
  const logprobs = new Float32Array(completionTotal);
  const eosProbs = new Float64Array(n);
  let lpAt = 0;
  for (let b = 0; b < n; b += PROOF_BATCH_SIZE) {
    const sub = rollouts.slice(b, b + PROOF_BATCH_SIZE);
    const proofs = await model.prove(sub, req.randomnessHex);
    proofs.forEach((p, j) => {
      const i = b + j;
      sVals.set(p.sVals, starts[i]!);
      logprobs.set(p.logprobs, lpAt);
      lpAt += p.logprobs.length;
      eosProbs[i] = p.eosProb;
    });
  }
  const t1 = performance.now();
  const commitmentsHashes = new Uint8Array(n * 32);
  const bindingHashes = new Uint8Array(n * 32);
  for (let i = 0; i < n; i++) {
    const commitmentsHash = hashCommitments(sVals.subarray(starts[i]!, starts[i + 1]!));
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
  }
  const t2 = performance.now();
  return {
    type: "proved",
    id: req.id,
    checkpointWindow,
    proveMs: t1 - t0,
    hashMs: t2 - t1,
    totalMs: t2 - t0,
    sVals,
    logprobs,
    eosProbs,
    commitmentsHashes,
    bindingHashes,
  };
}
