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

const MiB = 1024 ** 2;

function nvidiaSmi(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("nvidia-smi", [...args], { timeout: 10_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

/** A GPU's total memory in bytes: nvidia-smi's memory.total (MiB) for its physical index or UUID. */
export async function gpuTotalMemoryBytes(
  physicalId: string,
  query: (args: readonly string[]) => Promise<string> = nvidiaSmi,
): Promise<number> {
  let answer: string;
  try {
    answer = await query(["--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i", physicalId]);
  } catch (err) {
    throw new Error(
      `could not ask nvidia-smi for the total memory of GPU ${physicalId}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const mib = answer.trim();
  if (!/^\d+$/.test(mib) || Number(mib) === 0) {
    throw new Error(
      `nvidia-smi reported memory.total ${JSON.stringify(answer)} for GPU ${physicalId}; expected one whole number of MiB > 0`,
    );
  }
  return Number(mib) * MiB;
}
