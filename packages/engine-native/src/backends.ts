import { EngineError } from "./errors.js";
import { cudaLibraryPath, loadAddon, readBuildInfo } from "./native.js";

export type Backend = "cpu" | "cuda";

export interface CudaDevice {
  index: number;
  name: string;
  totalMemoryBytes: number;
}

export interface BackendReport {
  cpu: { available: true };
  cuda: { available: boolean; reason?: string; devices?: CudaDevice[] };
}

let cached: BackendReport | undefined;

/** Which backends this build and machine offer, and why CUDA is absent when it is. */
export function availableBackends(): BackendReport {
  if (cached) return cached;
  const build = readBuildInfo();
  if (!build.cuda.built) {
    cached = {
      cpu: { available: true },
      cuda: { available: false, reason: build.cuda.reason ?? "not built" },
    };
    return cached;
  }
  const probe = loadAddon().probeCuda(cudaLibraryPath());
  if (probe.error) {
    cached = { cpu: { available: true }, cuda: { available: false, reason: probe.error } };
    return cached;
  }
  const parsed = JSON.parse(probe.json ?? "{}") as { devices?: CudaDevice[]; error?: string };
  const devices = parsed.devices ?? [];
  cached =
    devices.length > 0
      ? { cpu: { available: true }, cuda: { available: true, devices } }
      : {
          cpu: { available: true },
          cuda: { available: false, reason: parsed.error ?? "no CUDA device is visible", devices: [] },
        };
  return cached;
}

/** The backend to use: the requested one (checked), else CUDA when available, else CPU. */
export function resolveBackend(requested: Backend | undefined, device: number): Backend {
  const report = availableBackends();
  if (requested === "cpu") return "cpu";
  if (requested === "cuda") {
    if (!report.cuda.available) {
      throw new EngineError(
        "cuda_unavailable",
        `the CUDA backend is not available: ${report.cuda.reason} (rebuild with GRAIL_ENGINE_CUDA=1 pnpm --filter @grail/engine-native build once the CUDA toolkit with cuBLAS is installed)`,
        {
          reason: report.cuda.reason,
        },
      );
    }
    const n = report.cuda.devices?.length ?? 0;
    if (!Number.isInteger(device) || device < 0 || device >= n) {
      throw new EngineError(
        "cuda_unavailable",
        `CUDA device ${device} does not exist (${n} visible; indices are relative to CUDA_VISIBLE_DEVICES)`,
        { device, visible: n },
      );
    }
    return "cuda";
  }
  return report.cuda.available ? "cuda" : "cpu";
}
