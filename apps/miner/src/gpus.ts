import { execFile } from "node:child_process";

/** How many GPUs the miner's GPU settings index into, and how that was learned. */
export interface VisibleGpus {
  readonly count: number | null;
  readonly how: string;
}

/**
 * CUDA_VISIBLE_DEVICES decides when set (indices are relative to it). Otherwise the driver is asked
 * (`nvidia-smi --list-gpus`); without a driver the count is unknown and the layout cannot be checked.
 */
export async function visibleGpus(cudaVisibleDevices: readonly string[] | null): Promise<VisibleGpus> {
  if (cudaVisibleDevices !== null) {
    return { count: cudaVisibleDevices.length, how: `CUDA_VISIBLE_DEVICES=${cudaVisibleDevices.join(",")}` };
  }
  return new Promise((resolve) => {
    execFile("nvidia-smi", ["--list-gpus"], { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        resolve({ count: null, how: "no NVIDIA driver answered nvidia-smi --list-gpus" });
        return;
      }
      const count = stdout.split("\n").filter((line) => /^GPU \d+:/.test(line)).length;
      resolve({ count, how: "nvidia-smi --list-gpus" });
    });
  });
}
