import type { ProvedReply } from "@grail/ipc";
import { bytesToHex, commitBinding, hashCommitments } from "@grail/protocol";
import type { GroupEntry } from "./group-entry.js";
import type { ProofPoolOptions } from "./options.js";
import type { ProvedRollout } from "./types.js";

/**
 * Checks a worker's reply against the batch it was sent (shape, finite logprobs and, unless
 * verifyBindings is off, each commit binding recomputed from the returned sketches) and signs every
 * binding with the coordinator's hotkey. Throws on the first mismatch, and no rollout is returned then.
 */
export function unpackAndSign(
  entry: GroupEntry,
  reply: ProvedReply,
  options: Pick<ProofPoolOptions, "verifyBindings" | "signer">,
): ProvedRollout[] {
  const n = entry.lengths.length;
  const completion = entry.lengths.reduce((a, len, i) => a + len - entry.promptLens[i]!, 0);
  if (
    reply.eosProbs.length !== n ||
    reply.sVals.length !== entry.tokens.length ||
    reply.logprobs.length !== completion
  ) {
    throw new Error(
      `result shape does not match the batch: ${reply.eosProbs.length} rollouts, ${reply.sVals.length} sketches, ${reply.logprobs.length} logprobs for ${n} rollouts, ${entry.tokens.length} tokens, ${completion} completion tokens`,
    );
  }
  const verify = options.verifyBindings ?? true;
  const out: ProvedRollout[] = [];
  let lpAt = 0;
  for (let i = 0; i < n; i++) {
    const tokens = entry.tokens.subarray(entry.starts[i]!, entry.starts[i + 1]!);
    const sVals = reply.sVals.slice(entry.starts[i]!, entry.starts[i + 1]!);
    const c = entry.lengths[i]! - entry.promptLens[i]!;
    const logprobs = reply.logprobs.slice(lpAt, lpAt + c);
    lpAt += c;
    // NaN weights or a faulty device give NaN logprobs that validators reject; never sign them.
    const bad = logprobs.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new Error(
        `rollout ${i}: logprob ${bad} is ${logprobs[bad]}; the worker's model or device is broken`,
      );
    }
    const commitmentsHash = reply.commitmentsHashes.slice(i * 32, i * 32 + 32);
    const bindingHash = reply.bindingHashes.slice(i * 32, i * 32 + 32);
    if (verify) {
      // The signature vouches for the binding; recompute it from what will be uploaded.
      const expected = commitBinding({
        tokens,
        randomnessHex: entry.ctx.randomnessHex,
        modelName: entry.ctx.modelName,
        layerIndex: entry.ctx.layerIndex,
        sketches: sVals,
      });
      if (bytesToHex(expected) !== bytesToHex(bindingHash)) {
        throw new Error(
          `rollout ${i}: the worker's commit binding does not match the returned sketches (commitments hash ${bytesToHex(commitmentsHash) === bytesToHex(hashCommitments(sVals)) ? "matches" : "differs"})`,
        );
      }
    }
    out.push({
      sVals,
      logprobs,
      eosProb: reply.eosProbs[i]!,
      commitmentsHash,
      bindingHash,
      signature: options.signer.sign(bindingHash),
    });
  }
  return out;
}
