import type { TimeBudget } from "./budget.js";
import type { MiningEngineDeps, MiningProgress, WindowReport } from "./engine-types.js";
import type { WindowUploadOutcome } from "./window-sink.js";

/**
 * A mined window's end: its file published through the sink (upload outcome into the metrics,
 * the time budget and the progress line) and the one-line summary of the window.
 */
export class WindowPublisher {
  constructor(
    private readonly deps: MiningEngineDeps,
    private readonly budget: TimeBudget,
    private readonly progressState: MiningProgress,
    private readonly now: () => number,
    private readonly beat: () => void,
  ) {}

  async publish(W: number, rows: number): Promise<WindowUploadOutcome | null> {
    const { metrics, sink, signer, logger } = this.deps;
    if (rows === 0) {
      sink.discard(W);
      metrics.emptyWindows.inc();
      return null;
    }
    this.progressState.phase = "uploading";
    this.progressState.upload = "writing";
    const stopUpload = metrics.stageDuration.startTimer("upload");
    const outcome = await sink.publish(W, {
      hotkey: signer.ss58,
      deadlineMs: this.budget.deadlineMs(W, this.now()),
      timestampSeconds: this.now() / 1000,
    });
    stopUpload();
    this.beat();
    const record = (o: WindowUploadOutcome) => {
      if (o.status === "uploaded") {
        this.budget.uploadTime.observe(o.durationMs / 1000);
        metrics.uploads.inc("success");
        metrics.rolloutsUploaded.inc(o.rows);
        metrics.lastUploadedWindow.set(W);
        metrics.lastUploadedWindowRollouts.set(o.rows);
        this.progressState.lastUploadedWindow = W;
        this.progressState.upload = "uploaded";
      } else {
        metrics.uploads.inc("failure");
        metrics.rolloutsDropped.inc("upload_failed", o.rows || rows);
        this.progressState.upload = "failed";
        logger.error("window file was not uploaded", { window: W, rows: o.rows || rows, error: o.error });
      }
    };
    if (outcome.retrying) {
      this.progressState.upload = "retrying";
      void outcome.final.then(record);
    } else {
      record(outcome);
    }
    return outcome;
  }

  /** The window's one-line summary, with the numbers behind it as fields. */
  summaryLine(r: WindowReport, lateGroups: number): void {
    const s = r.run;
    const drops = Object.entries(s.dropped)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const secs = (s.sealedAtMs - s.startedAtMs) / 1000;
    this.deps.logger.notice(
      `window ${r.windowStart}: ${s.groupsPackaged} groups (${s.rolloutsPackaged} rollouts) packaged, ${s.groupsDropped} dropped${drops ? ` [${drops}]` : ""}, upload ${r.upload ? r.upload.status : "none (empty)"}`,
      {
        window: r.windowStart,
        checkpoint: r.checkpointWindow,
        groups: s.groupsPackaged,
        rollouts: s.rolloutsPackaged,
        dropped: s.groupsDropped,
        batches: s.batches,
        stop: s.stopReason,
        // Groups still being proved when the file was sealed; they are dropped as window_closed.
        lateGroups,
        miningSeconds: Math.round(secs * 10) / 10,
        rolloutsPerSecond: secs > 0 ? Math.round((s.rolloutsPackaged / secs) * 100) / 100 : 0,
        uploadMs: r.upload ? Math.round(r.upload.durationMs) : null,
        fileBytes: r.upload?.size ?? null,
        neededBlocks: this.budget.neededBlocks(),
        blockSeconds: Math.round(this.budget.blockSeconds * 1000) / 1000,
        batchSeconds: Math.round(this.budget.batchSeconds * 1000) / 1000,
      },
    );
  }
}
