// Peak device memory of a worker process, read from nvidia-smi while it runs: the proof worker is a
// child process, so its own allocator cannot be asked from here.
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

/** Parses `nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits` (MiB). */
export function parseComputeApps(csv: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of csv.split("\n")) {
    const [pid, mib] = line.split(",").map((s) => s.trim());
    const p = Number(pid);
    const m = Number(mib);
    if (Number.isInteger(p) && p > 0 && Number.isFinite(m)) out.set(p, (out.get(p) ?? 0) + m * 2 ** 20);
  }
  return out;
}

function query(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      "nvidia-smi",
      ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
      { timeout: 5_000 },
      (err, stdout) => resolve(err ? null : stdout),
    );
  });
}

/** Samples one process's device memory until stopped; peak() is null where nvidia-smi is missing. */
export class GpuMemorySampler {
  private peakBytes: number | null = null;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly pid: number,
    intervalMs = 200,
  ) {
    this.loop = (async () => {
      while (this.running) {
        const csv = await query();
        if (csv === null) return; // no nvidia-smi (CPU machines): nothing to sample
        const bytes = parseComputeApps(csv).get(this.pid);
        if (bytes !== undefined) this.peakBytes = Math.max(this.peakBytes ?? 0, bytes);
        await sleep(intervalMs);
      }
    })();
  }

  /** The peak since the last call (or the start), then starts a new one. */
  takePeak(): number | null {
    const p = this.peakBytes;
    this.peakBytes = null;
    return p;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
