import {
  CodeSandbox,
  createEnvironment,
  type DatasetStore,
  fallbackJudge,
  MathOracle,
  type SymbolicJudge,
} from "@grail/environments";
import type { EnvironmentFactory, MiningEnvironment, RandomnessSource } from "@grail/pipeline";
import { noDrandRandomness } from "@grail/protocol";

/**
 * `create_env(env_id, env_params)` over the given problem sets, with a code sandbox started the
 * first time a code environment is asked for and sympy's judge for MATH when python has sympy.
 */
export class LocalEnvironments {
  private sandbox: CodeSandbox | null = null;
  private judge: SymbolicJudge | null = null;

  constructor(private readonly datasets: DatasetStore) {}

  readonly factory: EnvironmentFactory = (envId, envParams): MiningEnvironment => {
    const code = envId === "mbpp" || envId === "python_code" || envId === "humaneval";
    if (code && !this.sandbox) {
      this.sandbox = new CodeSandbox();
      void this.sandbox.start();
    }
    if (envId === "math" && !this.judge)
      this.judge = MathOracle.available() ? new MathOracle() : fallbackJudge;
    const env = createEnvironment(envId, envParams, {
      datasets: this.datasets,
      ...(this.sandbox ? { sandbox: this.sandbox } : {}),
      ...(this.judge ? { mathJudge: this.judge } : {}),
    });
    return {
      problemForGroup: (hotkey, blockHash, group) => env.problemForGroup(hotkey, blockHash, group),
      prompt: (problem, mode) => env.prompt(problem as Parameters<typeof env.prompt>[0], mode),
      score: (problem, completion, mode) =>
        env.score(problem as Parameters<typeof env.score>[0], completion, mode),
    };
  };

  async close(): Promise<void> {
    await this.sandbox?.close();
    await (this.judge as { close?: () => Promise<void> } | null)?.close?.();
  }
}

/**
 * Window randomness on the local network: there is no drand relay to reach, so it is the
 * validator's no-drand value sha256(block hash), never the schema-invalid raw hash.
 */
export function localRandomness(): RandomnessSource {
  return {
    drandEnabled: false,
    forWindow: async (blockHash) => ({ randomness: noDrandRandomness(blockHash), useDrand: false }),
  };
}
