/** What a dataset download reports while it runs. */
export interface FetchProgress {
  /** The plan: `bytes` over `shards` to download, `partBytes` of them already on disk from an earlier try. */
  start(plan: { shards: number; bytes: number; partBytes: number; kept: number }): void;
  /** `delta` bytes more on disk (negative when a download starts over). */
  advance(delta: number): void;
  /** One shard is downloaded and verified. */
  shardDone(path: string): void;
  finish(): void;
}

export interface ProgressOutput {
  /** A terminal to draw a bar on (stderr when it is a TTY), else null. */
  readonly tty: (NodeJS.WritableStream & { columns?: number }) | null;
  /** Log lines: the plan, every 10 % without a terminal, and the end. */
  line(message: string, fields: Record<string, unknown>): void;
}

const MB = 1024 * 1024;
/** `n` in MB, or in KB when the whole download is under 1 MB. */
const size = (n: number, whole: number) =>
  whole < MB ? `${Math.round(n / 1024)} KB` : `${(n / MB).toFixed(1)} MB`;

/** A progress bar on a terminal, log lines every 10 % otherwise. */
export function fetchProgress(out: ProgressOutput): FetchProgress {
  let total = 0;
  let done = 0;
  let shards = 0;
  let shardsDone = 0;
  let lastTenth = -1;
  let lastDraw = 0;
  const percent = () => (total === 0 ? 100 : Math.min(100, Math.floor((done / total) * 100)));
  const fields = () => ({
    percent: percent(),
    bytes: done,
    totalBytes: total,
    shards: shardsDone,
    totalShards: shards,
  });
  const summary = () =>
    `${percent()}% (${size(done, total).split(" ")[0]}/${size(total, total)}, ${shardsDone}/${shards} shards)`;
  const draw = (force: boolean) => {
    const tty = out.tty;
    if (!tty) return;
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const width = 30;
    const filled = Math.round((percent() / 100) * width);
    const text = `datasets [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${summary()}`;
    const columns = tty.columns ?? 160;
    tty.write(`\r\x1b[2K${text.length > columns - 1 ? text.slice(0, columns - 1) : text}`);
  };
  const report = () => {
    if (out.tty) return draw(false);
    const tenth = Math.floor(percent() / 10);
    // 100 % waits for the last shard's verification, so that line counts every shard.
    if (tenth > lastTenth && (tenth < 10 || shardsDone === shards)) {
      lastTenth = tenth;
      out.line(`datasets: ${summary()}`, fields());
    }
  };
  return {
    start(plan) {
      total = plan.bytes;
      done = plan.partBytes;
      shards = plan.shards;
      out.line(
        `datasets: downloading ${plan.shards} shards, ${size(plan.bytes, plan.bytes)}` +
          (plan.partBytes > 0 ? ` (${size(plan.partBytes, plan.bytes)} already on disk)` : "") +
          (plan.kept > 0 ? `; ${plan.kept} shards already downloaded and verified` : ""),
        { ...fields(), kept: plan.kept },
      );
      if (out.tty) draw(true);
    },
    advance(delta) {
      done += delta;
      report();
    },
    shardDone() {
      shardsDone += 1;
      report();
    },
    finish() {
      if (out.tty) {
        draw(true);
        out.tty.write("\n");
      }
      out.line(`datasets: downloaded ${shardsDone} shards, ${size(done, total)}`, fields());
    },
  };
}
