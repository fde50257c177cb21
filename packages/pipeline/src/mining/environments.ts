import {
  CodeSandbox,
  createEnvironment,
  type DatasetStore,
  fallbackJudge,
  MathOracle,
  type SymbolicJudge,
} from "@grail/environments";
import type { EnvironmentFactory, MiningEnvironment } from "./ports.js";

export interface MiningEnvironmentsOptions {
  /** Interpreter of the code sandbox and the sympy judge (the miner's GRAIL_PYTHON setting). */
  readonly python: string;
}

/**
 * `create_env(env_id, env_params)` over the given problem sets, with a code sandbox started the
 * first time a code environment asks for one, and sympy's judge for MATH when the interpreter
 * has sympy (the fallback judge otherwise).
 */
export class MiningEnvironments {
  private sandbox: CodeSandbox | null = null;
  private judge: SymbolicJudge | null = null;
  private readonly python: string;

  constructor(
    private readonly datasets: DatasetStore,
    options: MiningEnvironmentsOptions,
  ) {
    this.python = options.python;
  }

  readonly factory: EnvironmentFactory = (envId, envParams): MiningEnvironment => {
    const code = envId === "mbpp" || envId === "python_code" || envId === "humaneval";
    if (code && !this.sandbox) {
      this.sandbox = new CodeSandbox({ python: this.python });
      void this.sandbox.start();
    }
    if (envId === "math" && !this.judge)
      this.judge = MathOracle.available(this.python)
        ? new MathOracle({ python: this.python })
        : fallbackJudge;
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
    const judge = this.judge as { close?: () => Promise<void> } | null;
    await judge?.close?.();
  }
}
