import { GrailError } from "@grail/protocol";

/** One rejected setting: which variable, the value as given (secrets redacted) and what is allowed. */
export interface ConfigIssue {
  /** The variable (or `command line` for an unknown option). */
  readonly variable: string;
  /** The offending value as written, `[redacted]` for secrets, null when the problem is a missing value. */
  readonly value: string | null;
  /** Where the value came from: `.env`, `environment`, `command line` or `default`. */
  readonly source: string;
  /** What is wrong, e.g. "is not a whole number". */
  readonly problem: string;
  /** What would be accepted. */
  readonly allowed: string;
}

/**
 * Every problem of a configuration at once, so one run shows all of them. The message lists each
 * variable with its value, the problem and what is allowed, and says where to fix it.
 */
export class ConfigError extends GrailError {
  readonly issues: readonly ConfigIssue[];
  readonly envFile: string | null;

  constructor(issues: readonly ConfigIssue[], envFile: string | null) {
    const frozen = Object.freeze([...issues]);
    super(ConfigError.render(issues, envFile), { envFile, issues: frozen });
    this.issues = frozen;
    this.envFile = envFile;
  }

  private static render(issues: readonly ConfigIssue[], envFile: string | null): string {
    const count = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
    const lines = issues.map((i) => {
      const value = i.value === null ? "" : `=${JSON.stringify(i.value)}`;
      const from = i.source === "default" || i.source === "command line" ? "" : ` (from ${i.source})`;
      return `  - ${i.variable}${value}${from} ${i.problem}; allowed: ${i.allowed}`;
    });
    const where = envFile
      ? `Fix them in ${envFile} or the environment (values in the .env file win over exported variables).`
      : "Fix them in a .env file or the environment (values in a .env file win over exported variables).";
    return [`Invalid miner configuration (${count}):`, ...lines, where].join("\n");
  }
}
