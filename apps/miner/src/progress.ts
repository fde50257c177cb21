import type { MiningProgress } from "@grail/pipeline";

/** One line of live state: window, blocks left, groups by stage, throughput and upload state. */
export function formatProgress(p: MiningProgress): string {
  if (p.window === null) return `miner ${p.phase}…`;
  const parts = [
    `window ${p.window}`,
    p.blocksLeft === null ? null : `${p.blocksLeft} blocks left`,
    p.checkpointWindow === null ? null : `ckpt ${p.checkpointWindow}`,
    p.phase,
    `groups gen ${p.groupsGenerated} · proved ${p.groupsProved} · packaged ${p.groupsPackaged} · dropped ${p.groupsDropped}`,
    `${p.rolloutsPerSecond.toFixed(2)} rollouts/s`,
    `upload ${p.upload}${p.lastUploadedWindow === null ? "" : ` (last ${p.lastUploadedWindow})`}`,
  ];
  return parts.filter((x) => x !== null).join(" | ");
}

/** Redraws the progress line on a terminal once a second (log lines print over it and it comes back). */
export class ProgressLine {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stream: NodeJS.WritableStream & { columns?: number },
    private readonly read: () => MiningProgress,
    private readonly intervalMs = 1_000,
  ) {}

  start(): this {
    this.timer ??= setInterval(() => this.draw(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  draw(): void {
    const width = this.stream.columns ?? 160;
    const text = formatProgress(this.read());
    this.stream.write(`\r\x1b[2K${text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stream.write("\r\x1b[2K");
  }
}
