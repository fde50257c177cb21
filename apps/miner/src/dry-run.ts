import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type SubtensorClient, WindowClock } from "@grail/chain";
import type { DatasetStore } from "@grail/environments";
import type { Logger } from "@grail/log";
import {
  type CheckpointSource,
  type MiningEngine,
  MiningEnvironments,
  type WindowReport,
} from "@grail/pipeline";
import { DirectoryStore } from "@grail/storage";
import { formatReport, LocalValidator, verdictLine } from "@grail/validator";

export interface DryRunOptions {
  client: SubtensorClient;
  checkpoints: CheckpointSource;
  datasets: DatasetStore;
  /** GRAIL_PYTHON: the code sandbox's and the MATH judge's interpreter. */
  python: string;
  /** Where the window files that would have been uploaded are kept. */
  dir: string;
  /** The miner's bucket (for messages). */
  bucket: string;
  hotkey: string;
  print: (line: string) => void;
  log: Logger;
}

/**
 * The dry run's bucket and verdict: window files go to a local directory through the real
 * uploader, and the first window with rollouts is checked by the local validator (waiting for
 * block W+30, whose hash seeds the challenge), after which mining stops.
 */
export class DryRun {
  readonly store: DirectoryStore;
  private validator: LocalValidator | null = null;
  private environments: MiningEnvironments | null = null;
  private verdict: "pass" | "fail" | null = null;

  constructor(private readonly options: DryRunOptions) {
    this.store = new DirectoryStore(options.dir, options.bucket);
  }

  /** Exit status once mining stopped: 0 when the validated window passed. */
  get exitCode(): number {
    return this.verdict === "pass" ? 0 : 1;
  }

  attach(engine: MiningEngine): void {
    let busy = false;
    engine.onWindow((report) => {
      if (busy || this.verdict !== null) return;
      if (report.upload?.status !== "uploaded") return;
      busy = true;
      void this.check(report)
        .catch((err: Error) => {
          this.verdict = "fail";
          this.options.log.error("dry run: the window could not be validated", { error: err.message });
        })
        .finally(() => engine.stop("dry run: one window built and validated"));
    });
  }

  private async check(report: WindowReport): Promise<void> {
    const { print, hotkey, bucket } = this.options;
    const key = report.upload!.key;
    const path = this.store.pathOf(key);
    const info = await stat(path);
    print(
      `dry run: window ${report.windowStart} would upload s3://${bucket}/${key} (${report.upload!.rows} rollouts, ${info.size} bytes); kept at ${path}`,
    );
    const verdict = await this.localValidator().validate(hotkey, report.windowStart, {
      file: {
        bytes: await readFile(path),
        lastModified: info.mtime,
        source: path,
      },
    });
    print(verdictLine(verdict));
    print(formatReport(verdict));
    this.verdict = verdict.verdict === "pass" ? "pass" : "fail";
  }

  private localValidator(): LocalValidator {
    if (this.validator) return this.validator;
    const { client, checkpoints, datasets, python } = this.options;
    const clock = new WindowClock(client);
    this.environments = new MiningEnvironments(datasets, { python });
    this.validator = new LocalValidator({
      chain: {
        blockHash: (block) => client.blockHash(block),
        blockTimestampMs: async (block) =>
          block > (await client.currentBlock())
            ? null
            : client.blockTimestampMs(await client.blockHash(block)),
        currentBlock: () => client.currentBlock(),
        waitForBlock: (target, signal) => clock.waitForBlock(target, signal),
      },
      checkpoints: {
        latestReadyCheckpoint: (w) => checkpoints.latestReadyCheckpoint(w),
        getMetadata: (w) => checkpoints.getMetadata(w),
        getCheckpoint: (w) => checkpoints.getCheckpoint(w),
      },
      environments: this.environments.factory,
      progress: (message) => this.options.log.info(`dry run validator: ${message}`),
    });
    return this.validator;
  }

  async close(): Promise<void> {
    this.validator?.close();
    await this.environments?.close();
  }
}

/** The directory a dry run keeps its window files in. */
export function dryRunDir(cacheDir: string): string {
  return join(cacheDir, "dry-run");
}
