/**
 * One group's way through a window: its prompt built from the environment's problem, then (once
 * generated) its proof and rewards run side by side, and the group packaged and signed as rows.
 * A group that cannot be completed throws GroupDrop with the reason it is counted under.
 */
import { assembleGroup, INSTRUCTED_CHAT_TEMPLATE, type Problem } from "@grail/environments";
import type { Completion } from "@grail/generation";
import type { DropReason } from "@grail/metrics";
import { CHALLENGE_K } from "@grail/protocol";
import { GroupDroppedError, StaleCheckpointError } from "../pool/errors.js";
import type { ProvedGroup } from "../pool/types.js";
import { MiningError } from "./errors.js";
import { type PackagingRollout, packageGroup } from "./packaging.js";
import type { WindowCounters, WindowRunDeps, WindowRunInput } from "./window-run-types.js";

/** A group whose prompt is ready for generation. */
export interface PreparedGroup {
  index: number;
  block: number;
  problem: unknown;
  promptIds: number[];
}

/** A group that cannot be completed, with the reason it is counted under. */
export class GroupDrop extends MiningError {
  constructor(
    readonly reason: DropReason,
    message: string,
  ) {
    super(message, { reason });
  }
}

/** The prompt of group `index`: the environment's problem for it, rendered and tokenized. */
export async function prepareGroup(
  input: WindowRunInput,
  hotkey: string,
  index: number,
  block: number,
): Promise<PreparedGroup> {
  const { env, tokenizer, task, identity } = input;
  const problem = await env.problemForGroup(hotkey, identity.blockHash, index);
  const spec = env.prompt(problem, task.thinkingMode);
  const text = tokenizer.renderChat(spec.messages, {
    addGenerationPrompt: spec.addGenerationPrompt,
    ...(spec.chatTemplate === "protocol-chatml" ? { chatTemplate: INSTRUCTED_CHAT_TEMPLATE } : {}),
    ...(spec.enableThinking === undefined
      ? {}
      : { templateKwargs: { enable_thinking: spec.enableThinking } }),
  });
  return { index, block, problem, promptIds: await tokenizer.encode(text) };
}

/** Proves, scores and packages a generated group; throws GroupDrop when it cannot be completed. */
export async function proveScoreAndPackage(
  input: WindowRunInput,
  deps: WindowRunDeps,
  counters: WindowCounters,
  now: () => number,
  g: PreparedGroup,
  completions: Completion[],
) {
  const { identity, task, env, tokenizer } = input;
  const { metrics } = deps;
  if (completions.some((c) => c.status === "skipped_context")) {
    throw new GroupDrop("context_overflow", "prompt + max_new_tokens exceeds the server context");
  }
  const short = completions.findIndex((c) => c.outputIds.length < CHALLENGE_K);
  if (short >= 0) {
    throw new GroupDrop(
      "generation_failed",
      `completion ${short} has ${completions[short]!.outputIds.length} < ${CHALLENGE_K} tokens`,
    );
  }
  const promptLength = g.promptIds.length;
  const tokens = completions.map((c) => {
    const t = new Int32Array(promptLength + c.outputIds.length);
    t.set(g.promptIds, 0);
    t.set(c.outputIds, promptLength);
    return t;
  });

  // Proofs start first: they are the long pole; rewards run meanwhile.
  const stopProof = metrics.stageDuration.startTimer("proof");
  const proof = deps.proofs
    .proveGroup(
      {
        groupId: `${identity.windowStart}:${g.index}`,
        rollouts: tokens.map((t) => ({ tokens: t, promptLen: promptLength })),
      },
      {
        randomnessHex: identity.randomness,
        modelName: identity.modelName,
        checkpointWindow: identity.checkpointWindow,
      },
    )
    .finally(stopProof);
  const stopReward = metrics.stageDuration.startTimer("reward");
  const scored = Promise.all(
    completions.map(async (c) =>
      env.score(
        g.problem,
        await tokenizer.decode(c.outputIds, { skipSpecialTokens: false }),
        task.thinkingMode,
      ),
    ),
  ).finally(stopReward);
  const [proofResult, rewardResult] = await Promise.allSettled([proof, scored]);

  if (rewardResult.status === "rejected") {
    throw new GroupDrop("reward_failed", (rewardResult.reason as Error).message);
  }
  const group = assembleGroup(g.problem as Problem, rewardResult.value);
  if (group.dropReason) throw new GroupDrop("reward_failed", group.dropReason);
  if (proofResult.status === "rejected") {
    const e = proofResult.reason as Error;
    throw new GroupDrop(
      e instanceof StaleCheckpointError ? "stale_checkpoint" : "proof_failed",
      e instanceof GroupDroppedError ? e.reason : e.message,
    );
  }
  const proved: ProvedGroup = proofResult.value;
  counters.groupsProved++;
  metrics.rolloutsProved.inc(proved.rollouts.length);
  for (const r of group.rollouts) metrics.rolloutReward.observe(r.reward);

  const rollouts: PackagingRollout[] = proved.rollouts.map((p, i) => ({
    tokens: tokens[i]!,
    promptLength,
    reward: group.rollouts[i]!.reward,
    advantage: group.rollouts[i]!.advantage,
    success: group.rollouts[i]!.success,
    sVals: p.sVals,
    logprobs: p.logprobs,
    commitSignature: p.signature,
  }));
  const stopPack = metrics.stageDuration.startTimer("packaging");
  try {
    return packageGroup(
      identity,
      { groupIndex: g.index, block: g.block, rollouts },
      deps.signer,
      now() / 1000,
    );
  } catch (err) {
    throw new GroupDrop("signing_failed", (err as Error).message);
  } finally {
    stopPack();
  }
}
