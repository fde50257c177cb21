import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { MiningEngineDeps } from "./engine-types.js";
import { PipelineInitError, WindowSkippedError } from "./errors.js";
import type { Backends, MiningTokenizer } from "./ports.js";

export interface LoadedCheckpoint {
  window: number;
  dir: string;
  tokenizer: MiningTokenizer;
  modelName: string;
}

/** Which checkpoint the generation server and the proof workers hold, and the switch to another. */
export class CheckpointSwitch {
  /** The generation server and proof pool once started (null before the first checkpoint). */
  backends: Backends | null = null;
  current: LoadedCheckpoint | null = null;

  constructor(
    private readonly deps: MiningEngineDeps,
    private readonly now: () => number,
  ) {}

  /**
   * The window's checkpoint, loaded into the generation server and every proof worker. Any failure
   * skips the window: mining on the previous checkpoint would produce rows whose checkpoint_window
   * validators reject, and generation must never use other weights than the proofs.
   */
  async ensureCheckpoint(W: number): Promise<LoadedCheckpoint> {
    const { checkpoints, metrics, logger } = this.deps;
    let C: number | null;
    try {
      C = await checkpoints.latestReadyCheckpoint(W);
    } catch (err) {
      throw new WindowSkippedError(
        "checkpoint_unavailable",
        `checkpoint listing failed: ${(err as Error).message}`,
        {},
        err,
      );
    }
    if (C === null) throw new WindowSkippedError("no_checkpoint", `no READY checkpoint before window ${W}`);
    const cur = this.current;
    if (
      cur &&
      cur.window === C &&
      this.backends &&
      this.backends.generation.loadedCheckpoint === resolve(cur.dir) &&
      this.backends.proofs.stats().checkpointWindow === C
    ) {
      return cur;
    }

    const t0 = this.now();
    let dir: string;
    try {
      const got = await checkpoints.getCheckpoint(C);
      dir = got.dir;
      metrics.checkpointLoads.inc(got.method);
      metrics.checkpointLoadDuration.observe(got.method, (this.now() - t0) / 1000);
    } catch (err) {
      throw new WindowSkippedError(
        "checkpoint_unavailable",
        `checkpoint ${C} could not be made ready: ${(err as Error).message}`,
        { checkpointWindow: C },
        err,
      );
    }

    if (!this.backends) {
      try {
        this.backends = await this.deps.startBackends({ dir, window: C });
      } catch (err) {
        throw new PipelineInitError(
          `the generation server or the proof workers failed to start on checkpoint ${C}: ${(err as Error).message}`,
          {
            checkpointWindow: C,
            dir,
            configuration: (err as { configuration?: unknown }).configuration === true,
          },
          { cause: err },
        );
      }
      logger.notice("pipeline started", { checkpoint: C, dir });
    } else {
      const { generation, proofs } = this.backends;
      const [gen, prf] = await Promise.allSettled([
        generation.loadedCheckpoint === resolve(dir) ? Promise.resolve(null) : generation.syncWeights(dir),
        proofs.reload({ modelDir: dir, checkpointWindow: C }),
      ]);
      if (gen.status === "rejected") {
        metrics.weightSyncs.inc("failed");
        throw new WindowSkippedError(
          "weights_not_synced",
          `generation server could not load checkpoint ${C}: ${(gen.reason as Error).message}`,
          { checkpointWindow: C },
          gen.reason,
        );
      }
      if (gen.value) metrics.weightSyncs.inc(gen.value.method === "in-place" ? "synced" : "restarted");
      if (prf.status === "rejected" || prf.value.every((o) => o.outcome === "unavailable")) {
        throw new WindowSkippedError(
          "weights_not_synced",
          `proof workers could not load checkpoint ${C}: ${prf.status === "rejected" ? (prf.reason as Error).message : "every worker is unavailable"}`,
          { checkpointWindow: C },
        );
      }
      logger.notice("switched checkpoint", {
        from: cur?.window ?? null,
        to: C,
        generation: gen.value ? gen.value.method : "already loaded",
        proofs: prf.value.map((o) => `${o.gpu}:${o.outcome}`).join(","),
        ms: this.now() - t0,
      });
    }
    const tokenizer = await this.deps.loadTokenizer(dir);
    const loaded: LoadedCheckpoint = { window: C, dir, tokenizer, modelName: await modelNameOf(dir) };
    this.current = loaded;
    return loaded;
  }
}

/** `model_name` from the local checkpoint's metadata.json, as the reference binds it (§3.10). */
export async function modelNameOf(dir: string): Promise<string> {
  try {
    const meta = JSON.parse(await readFile(join(dir, "metadata.json"), "utf8")) as { model_name?: unknown };
    if (typeof meta.model_name === "string" && meta.model_name !== "") return meta.model_name;
  } catch {
    // no local metadata: the reference's default name
  }
  return "no_name";
}
