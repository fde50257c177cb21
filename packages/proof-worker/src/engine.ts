import { availableParallelism } from "node:os";
import {
  availableBackends,
  EngineError,
  loadModel,
  type RolloutInput,
  type RolloutProof,
} from "@grail/engine-native";
import type { ModelSummary } from "@grail/ipc";

/** What the worker needs from a proof engine; the native engine is the production one. */
export interface EngineModel {
  readonly summary: ModelSummary;
  readonly backend: string;
  /** Human-readable device, e.g. "cpu (4 threads)" or "cuda:0 NVIDIA H200". */
  readonly device: string;
  readonly modelDir: string;
  prove(batch: readonly RolloutInput[], randomnessHex: string): Promise<RolloutProof[]>;
  /** Replaces the weights in place; the engine decides whether buffers can be reused. */
  reload(modelDir: string): Promise<void>;
  close(): void;
}

export interface EngineLoadOptions {
  backend?: "cpu" | "cuda";
  device?: number;
  threads?: number;
  options?: Record<string, unknown>;
}

export type ModelLoader = (modelDir: string, options: EngineLoadOptions) => Promise<EngineModel>;

/** The machine-readable reason an engine call failed (EngineError code, else "internal"). */
export function engineCodeOf(err: unknown): string {
  return err instanceof EngineError ? err.code : "internal";
}

function describeDevice(backend: string, device: number, threads: number): string {
  if (backend === "cpu") return `cpu (${threads > 0 ? threads : availableParallelism()} threads)`;
  const name = availableBackends().cuda.devices?.find((d) => d.index === device)?.name ?? "unknown GPU";
  return `cuda:${device} ${name}`;
}

/** Loads a model with @grail/engine-native. */
export const loadNativeModel: ModelLoader = async (modelDir, options) => {
  const device = options.device ?? 0;
  const threads = options.threads ?? 0;
  // The engine's switches come from the coordinator's settings in the load message; loadModel refuses
  // a value that is not a boolean. Keys of other engines (the torch worker's) are not ours to check.
  const { profile, sharePrompts } = (options.options ?? {}) as { profile?: boolean; sharePrompts?: boolean };
  const model = await loadModel(modelDir, {
    backend: options.backend,
    device,
    threads,
    profile,
    sharePrompts,
  });
  const info = model.info;
  return {
    summary: {
      modelType: info.modelType,
      hiddenSize: info.hiddenSize,
      numLayers: info.numLayers,
      vocabSize: info.vocabSize,
      eosTokenId: info.eosTokenId,
    },
    backend: model.backend,
    device: describeDevice(model.backend, device, threads),
    get modelDir() {
      return model.modelDir;
    },
    prove: (batch, randomnessHex) => model.prove(batch, randomnessHex),
    reload: (dir) => model.reload(dir),
    close: () => model.close(),
  };
};
