/** What the validator recomputes with the checkpoint to hold a miner's rollouts against. */
import { INSTRUCTED_CHAT_TEMPLATE } from "@grail/environments";
import type { MiningEnvironment, WindowTask } from "@grail/pipeline";
import type { RolloutRecord } from "@grail/protocol";
import { errorMessage } from "@grail/storage";
import type { CheckLedger } from "./checks.js";
import type { LoadedCheckpoint, ValidatorModel } from "./input.js";
import { sampledTokenProbability } from "./statistics.js";
import { rowSubject } from "./window-file.js";

/** A group's problem and canonical prompt ids; on failure the reason, both null. */
export interface GroupPrompt {
  problem: unknown;
  promptIds: number[] | null;
  promptError: string | null;
}

/** §5.6: seed → problem → messages → chat template → ids, as the validator builds the prompt. */
export async function canonicalPrompt(
  env: MiningEnvironment,
  task: WindowTask,
  ckpt: LoadedCheckpoint,
  seed: { hotkey: string; blockHash: string; group: number },
): Promise<GroupPrompt> {
  try {
    const problem = await env.problemForGroup(seed.hotkey, seed.blockHash, seed.group);
    const spec = env.prompt(problem, task.thinkingMode);
    const text = ckpt.tokenizer.renderChat(spec.messages, {
      addGenerationPrompt: spec.addGenerationPrompt,
      ...(spec.chatTemplate === "protocol-chatml" ? { chatTemplate: INSTRUCTED_CHAT_TEMPLATE } : {}),
      ...(spec.enableThinking === undefined
        ? {}
        : { templateKwargs: { enable_thinking: spec.enableThinking } }),
    });
    return { problem, promptIds: await ckpt.tokenizer.encode(text), promptError: null };
  } catch (err) {
    return { problem: null, promptIds: null, promptError: errorMessage(err) };
  }
}

/** The miner's beacon randomness (hex) from the commit; null when absent or not hex. */
export function beaconRandomness(row: RolloutRecord): string | null {
  try {
    const beacon = JSON.parse(row.commit.beacon) as { randomness?: unknown };
    return typeof beacon.randomness === "string" && /^[0-9a-fA-F]+$/.test(beacon.randomness)
      ? beacon.randomness
      : null;
  } catch {
    return null;
  }
}

/** The validator's sketches and logprobs of one sequence. */
export type Proof = Awaited<ReturnType<ValidatorModel["prove"]>>[number];

/**
 * For P4 and P8: one prefill over each sequence with the miner's beacon randomness. A forward
 * pass that fails fails proof_valid of its rows.
 */
export async function recomputeProofs(
  model: ValidatorModel,
  rows: readonly RolloutRecord[],
  usable: readonly number[],
  ledger: CheckLedger,
): Promise<Map<number, Proof>> {
  const proofs = new Map<number, Proof>();
  const byRandomness = new Map<string, number[]>();
  for (const i of usable) {
    const beacon = beaconRandomness(rows[i]!);
    if (beacon === null) continue;
    const list = byRandomness.get(beacon) ?? [];
    list.push(i);
    byRandomness.set(beacon, list);
  }
  for (const [randomness, list] of byRandomness) {
    const provable = list.filter((i) => rows[i]!.commit.rollout.prompt_length >= 1);
    try {
      const out = await model.prove(
        provable.map((i) => ({
          tokens: rows[i]!.commit.tokens,
          promptLen: rows[i]!.commit.rollout.prompt_length,
        })),
        randomness,
      );
      provable.forEach((i, k) => {
        proofs.set(i, out[k]!);
      });
    } catch (err) {
      for (const i of provable) {
        ledger.fail("proof_valid", rowSubject(i), {
          row: i,
          message: `validator forward pass failed: ${errorMessage(err)}`,
        });
      }
    }
  }
  return proofs;
}

const PREFIX_BATCH = 32;

/**
 * P9's probabilities: for every completion position t, the logits after tokens[:t] (the last
 * logits of that prefix), with the checkpoint's repetition penalty over tokens[:t] and temperature.
 */
export async function chosenTokenProbabilities(
  model: ValidatorModel,
  tokens: readonly number[],
  promptLength: number,
  task: WindowTask,
): Promise<number[]> {
  const probs: number[] = [];
  const context = new Set<number>(tokens.slice(0, promptLength));
  for (let start = promptLength; start < tokens.length; start += PREFIX_BATCH) {
    const end = Math.min(tokens.length, start + PREFIX_BATCH);
    const prefixes: number[][] = [];
    for (let t = start; t < end; t++) prefixes.push(tokens.slice(0, t));
    const logits = await model.lastLogits(prefixes);
    for (let t = start; t < end; t++) {
      probs.push(
        sampledTokenProbability(
          logits[t - start]!,
          tokens[t]!,
          context,
          task.policy.repetitionPenalty ?? 1.0,
          task.policy.temperature,
        ),
      );
      context.add(tokens[t]!);
    }
  }
  return probs;
}
