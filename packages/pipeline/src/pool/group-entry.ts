import { InvalidGroupError } from "./errors.js";
import type { ProofContext, ProofGroup, ProvedGroup } from "./types.js";

/** A group accepted by the pool: its rollouts packed once into the arrays every attempt sends. */
export interface GroupEntry {
  group: ProofGroup;
  ctx: Required<ProofContext>;
  tokens: Int32Array;
  lengths: Int32Array;
  promptLens: Int32Array;
  starts: Int32Array;
  attempts: number;
  resolve: (g: ProvedGroup) => void;
  reject: (e: Error) => void;
}

/** Checks a group's token ids and prompt lengths and packs them; throws InvalidGroupError. */
export function packGroup(
  group: ProofGroup,
): Pick<GroupEntry, "tokens" | "lengths" | "promptLens" | "starts"> {
  const n = group.rollouts.length;
  if (n === 0)
    throw new InvalidGroupError(`group ${group.groupId} has no rollouts`, { groupId: group.groupId });
  const lengths = new Int32Array(n);
  const promptLens = new Int32Array(n);
  const starts = new Int32Array(n + 1);
  group.rollouts.forEach((r, i) => {
    const len = r.tokens.length;
    if (len < 2 || !Number.isInteger(r.promptLen) || r.promptLen < 1 || r.promptLen > len) {
      throw new InvalidGroupError(
        `group ${group.groupId} rollout ${i}: ${len} tokens with promptLen ${r.promptLen}; need ≥ 2 tokens and 1 ≤ promptLen ≤ tokens`,
        { groupId: group.groupId, rollout: i },
      );
    }
    lengths[i] = len;
    promptLens[i] = r.promptLen;
    starts[i + 1] = starts[i]! + len;
  });
  const tokens = new Int32Array(starts[n]!);
  group.rollouts.forEach((r, i) => {
    for (let j = 0; j < r.tokens.length; j++) {
      const t = r.tokens[j]!;
      if (!Number.isInteger(t) || t < 0 || t > 0x7fffffff) {
        throw new InvalidGroupError(
          `group ${group.groupId} rollout ${i}: token ${t} at ${j} is not a token id`,
          {
            groupId: group.groupId,
            rollout: i,
            position: j,
          },
        );
      }
      tokens[starts[i]! + j] = t;
    }
  });
  return { tokens, lengths, promptLens, starts };
}
