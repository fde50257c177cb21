import { deriveEnvSeed } from "@grail/protocol";
import type { DatasetStore } from "./datasets/store.js";
import { EnvironmentError } from "./errors.js";
import {
  buildPrompt,
  type EnvId,
  type EnvSplit,
  gsm8kProblem,
  humanEvalProblem,
  mathProblem,
  mbppProblem,
  type Problem,
  type PromptSpec,
  resolveEnvSplit,
} from "./problems.js";
import { scoreCode } from "./rewards/code.js";
import { scoreGsm8k } from "./rewards/gsm8k.js";
import { fallbackJudge, type SymbolicJudge, scoreMath } from "./rewards/math.js";
import type { RewardResult } from "./rewards/types.js";
import type { CodeSandbox } from "./sandbox/code-sandbox.js";
import { type ThinkingMode, thinkingConfig } from "./thinking.js";

export interface EnvironmentDeps {
  readonly datasets: DatasetStore;
  /** Required to score mbpp/humaneval. */
  readonly sandbox?: CodeSandbox;
  /** MATH strategies (b)+(c); `MathOracle` when sympy is present, else `fallbackJudge`. */
  readonly mathJudge?: SymbolicJudge;
}

export class MissingSandboxError extends EnvironmentError {
  constructor(env: EnvId) {
    super(`scoring ${env} runs the tests: construct the environment with a CodeSandbox`, { env });
  }
}

/**
 * One environment of one checkpoint (`create_env(env_id, env_params)`): problems from seeds,
 * prompts, and rewards for decoded completions.
 */
export class TaskEnvironment {
  readonly env: EnvId;
  readonly split: string;
  private readonly target: EnvSplit;

  constructor(
    target: EnvSplit,
    private readonly deps: EnvironmentDeps,
  ) {
    this.target = target;
    this.env = target.env;
    this.split = target.split;
  }

  /** Rows in the derived split (the N of the seed → index rule). */
  async size(): Promise<number> {
    return (await this.rows()).length;
  }

  /** `reset(seed=seed)`: the problem the validator derives for this seed. */
  async problemFromSeed(seed: number): Promise<Problem> {
    const t = this.target;
    switch (t.env) {
      case "gsm8k":
        return gsm8kProblem(await this.deps.datasets.gsm8k(t.split), t.split, seed);
      case "math":
        return mathProblem(await this.deps.datasets.math(t.split), t.split, seed);
      case "mbpp":
        return mbppProblem(await this.deps.datasets.mbpp(t.split), t.split, seed);
      case "humaneval":
        return humanEvalProblem(await this.deps.datasets.humaneval(), seed);
    }
  }

  /** The problem of GRPO group `group` for this miner in the window with `blockHash`. */
  problemForGroup(hotkeySs58: string, blockHash: string, group: number): Promise<Problem> {
    return this.problemFromSeed(deriveEnvSeed(hotkeySs58, blockHash, group));
  }

  prompt(problem: Problem, mode: ThinkingMode): PromptSpec {
    return buildPrompt(problem, mode);
  }

  /** `step(completion)`: reward and success for the decoded completion (special tokens kept). */
  async score(problem: Problem, completion: string, mode: ThinkingMode): Promise<RewardResult> {
    const cfg = thinkingConfig(mode);
    switch (problem.env) {
      case "gsm8k":
        return scoreGsm8k(completion, problem.answer, cfg);
      case "math":
        return scoreMath(
          completion,
          { answer: problem.answer, solution: problem.solution },
          cfg,
          this.deps.mathJudge ?? fallbackJudge,
        );
      case "mbpp":
      case "humaneval": {
        if (!this.deps.sandbox) throw new MissingSandboxError(problem.env);
        const tests =
          problem.env === "mbpp"
            ? { kind: "mbpp" as const, ...problem.tests }
            : { kind: "humaneval" as const, ...problem.tests };
        return scoreCode(completion, tests, cfg, this.deps.sandbox);
      }
    }
  }

  private async rows(): Promise<readonly unknown[]> {
    const t = this.target;
    switch (t.env) {
      case "gsm8k":
        return this.deps.datasets.gsm8k(t.split);
      case "math":
        return this.deps.datasets.math(t.split);
      case "mbpp":
        return this.deps.datasets.mbpp(t.split);
      case "humaneval":
        return this.deps.datasets.humaneval();
    }
  }
}

/** `create_env(env_id, env_params=…)` for the ids this package serves. */
export function createEnvironment(
  envId: string,
  envParams: Readonly<Record<string, unknown>> | null | undefined,
  deps: EnvironmentDeps,
): TaskEnvironment {
  return new TaskEnvironment(resolveEnvSplit(envId, envParams), deps);
}
