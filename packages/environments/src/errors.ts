import { GrailError } from "@grail/protocol";

/** Base class of every error this package throws; `context` carries machine-readable context. */
export class EnvironmentError extends GrailError {}

export class UnknownEnvironmentError extends EnvironmentError {
  constructor(envId: string, known: readonly string[]) {
    super(
      `unknown environment id "${envId}": this miner serves ${known.join(", ")}; ` +
        "check the checkpoint metadata's env_id",
      { envId, known },
    );
  }
}

export class InvalidSplitError extends EnvironmentError {
  constructor(envId: string, split: string, allowed: readonly string[]) {
    super(
      `environment "${envId}" has no split "${split}" (allowed: ${allowed.join(", ")}); ` +
        "the validator rejects it too, so skip this checkpoint's window",
      { envId, split, allowed },
    );
  }
}

export class DatasetMissingError extends EnvironmentError {
  constructor(envId: string, path: string) {
    super(
      `dataset files for "${envId}" are not cached at ${path}; run \`pnpm datasets:fetch\` ` +
        "(needs internet once) or set GRAIL_CACHE_DIR to a cache root whose datasets/ has them",
      { envId, path },
    );
  }
}

export class DatasetIntegrityError extends EnvironmentError {
  constructor(envId: string, file: string, problem: string) {
    super(
      `dataset cache for "${envId}" is not trustworthy (${file}: ${problem}); ` +
        "delete it and run `pnpm datasets:fetch` again, otherwise problems would differ from the validator's",
      { envId, file, problem },
    );
  }
}

export class DatasetFetchError extends EnvironmentError {
  constructor(url: string, problem: string, dataset?: string) {
    super(`download failed for ${url}: ${problem}; check connectivity to the dataset hub and retry`, {
      url,
      problem,
      ...(dataset ? { envId: dataset } : {}),
    });
  }
}

/**
 * A dataset the miner needs is missing or corrupt and could not be fetched: the start stops here,
 * since a window without its environment's problems would upload nothing.
 */
export class DatasetProvisionError extends EnvironmentError {
  constructor(dataset: string, state: string, dataDir: string, hubUrl: string, cause: EnvironmentError) {
    const where = typeof cause.context.url === "string" ? cause.context.url : cause.context.file;
    super(
      `dataset "${dataset}" is ${state} and could not be fetched into ${dataDir}/datasets from ${hubUrl} ` +
        `(${cause instanceof DatasetFetchError ? "download failed" : "integrity check failed"}: ${where}: ${cause.context.problem}). ` +
        "Run `pnpm datasets:fetch` where the hub is reachable (and copy its datasets directory here), " +
        "or set HF_ENDPOINT to a reachable mirror; partial downloads are kept and continue on the next start",
      { dataset, state, dataDir, hubUrl, ...cause.context },
    );
  }
}

export class SandboxUnavailableError extends EnvironmentError {
  constructor(problem: string, context: Record<string, unknown> = {}) {
    super(
      `the Python sandbox cannot run (${problem}); install python3 (>= 3.11) or set GRAIL_PYTHON ` +
        "to an interpreter, code environments cannot be scored without it",
      context,
    );
  }
}

export class SandboxClosedError extends EnvironmentError {
  constructor(what: string) {
    super(`${what} was closed; create a new one before scoring more completions`, { what });
  }
}
