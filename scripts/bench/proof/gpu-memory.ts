// Device memory read from nvidia-smi while a benchmark runs: a worker process's own (the proof worker is
// a child process, so its allocator cannot be asked from here) or the whole GPU's.
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

/** Parses `nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i N` (MiB) into bytes. */
export function parseMemoryUsed(csv: string): number | null {
  const mib = Number(csv.trim().split("\n")[0]?.trim());
  return csv.trim() !== "" && Number.isFinite(mib) && mib >= 0 ? mib * 2 ** 20 : null;
}

function nvidiaSmi(args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile("nvidia-smi", args, { timeout: 5_000 }, (err, stdout) => resolve(err ? null : stdout));
  });
}

/** The GPU this process uses: the first of CUDA_VISIBLE_DEVICES (a physical index), else 0. */
export function visibleGpuIndex(env: NodeJS.ProcessEnv = process.env): string {
  const first = env.CUDA_VISIBLE_DEVICES?.split(",")[0]?.trim();
  return first !== undefined && /^\d+$/.test(first) ? first : "0";
}

/** Memory in use on a whole GPU now (every process and the driver's own), or null without nvidia-smi. */
export async function deviceMemoryUsed(gpu: string): Promise<number | null> {
  const csv = await nvidiaSmi(["--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", gpu]);
  return csv === null ? null : parseMemoryUsed(csv);
}

/** Samples a reading until stopped; the peak is null where it never read anything (no nvidia-smi). */
class PeakSampler {
  private peakBytes: number | null = null;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(read: () => Promise<number | null | undefined>, intervalMs: number) {
    this.loop = (async () => {
      while (this.running) {
        const bytes = await read();
        if (bytes === null) return; // no nvidia-smi (CPU machines): nothing to sample
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

/** One process's device memory (nvidia-smi's per-process figure; containers may hide processes). */
export class GpuMemorySampler extends PeakSampler {
  constructor(pid: number, intervalMs = 200) {
    super(async () => {
      const csv = await nvidiaSmi(["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]);
      return csv === null ? null : parseComputeApps(csv).get(pid);
    }, intervalMs);
  }
}

/** A whole GPU's memory in use (nvidia-smi --query-gpu=memory.used). */
export class DeviceMemorySampler extends PeakSampler {
  constructor(gpu: string, intervalMs = 100) {
    super(() => deviceMemoryUsed(gpu), intervalMs);
  }
}
