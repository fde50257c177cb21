import { WINDOW_LENGTH } from "@grail/protocol";
import {
  CheckpointPublisher,
  type GenerationParams,
  type ObjectStoreClient,
  type SparseCodecFormat,
  type StateDict,
} from "@grail/storage";
import { perturbWeights, type TinyModel } from "./tiny-model.js";

/** What the trainer's checkpoints tell miners to mine (metadata env and sampling policy). */
export interface TrainerTask {
  envId: string;
  envParams: Record<string, unknown>;
  thinkingMode: "native" | "instructed";
  generationParams: GenerationParams;
}

export interface PublishedCheckpoint {
  window: number;
  type: "FULL" | "DELTA";
  weightsHash: string;
  /** Changed elements (DELTA only). */
  nonzero?: number;
}

export interface DevnetTrainerOptions {
  /** Write client of the trainer's bucket. */
  writer: ObjectStoreClient;
  model: TinyModel;
  task: TrainerTask;
  /** Windows between FULL anchors (GRAIL_DELTA_BASE_INTERVAL); default 10. */
  anchorEveryWindows?: number;
  format?: SparseCodecFormat;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * The local network's trainer: publishes the tiny model as trainer checkpoints in the real
 * layout. The first publish is FULL; each later window gets a DELTA (small weight changes in the
 * sparse codec) chained to the previous one, with a FULL at every anchor window. A checkpoint
 * published during window W is marked READY-W, so miners use it from window W + 30 on.
 */
export class DevnetTrainer {
  private readonly publisher: CheckpointPublisher;
  private state: StateDict;
  private last: { window: number; anchor: number } | null = null;
  private readonly history: PublishedCheckpoint[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: DevnetTrainerOptions) {
    this.publisher = new CheckpointPublisher(options.writer);
    this.state = options.model.state;
  }

  get published(): readonly PublishedCheckpoint[] {
    return this.history;
  }

  get modelName(): string {
    return this.options.model.modelName;
  }

  /** Publishes the checkpoint of `window` (FULL for the first and at anchors, DELTA otherwise). */
  publish(window: number): Promise<PublishedCheckpoint> {
    const run = this.queue.then(() => this.publishNow(window));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async publishNow(window: number): Promise<PublishedCheckpoint> {
    if (window % WINDOW_LENGTH !== 0)
      throw new RangeError(`checkpoint window ${window} is not a window start`);
    if (this.last && window <= this.last.window) {
      throw new RangeError(`checkpoint ${window} is not after the last one (${this.last.window})`);
    }
    const { task, model } = this.options;
    const common = {
      window,
      readyWindow: window,
      envId: task.envId,
      envParams: task.envParams,
      generationParams: task.generationParams,
      thinkingMode: task.thinkingMode,
      trainingConfig: { trainer: "grail-devnet", lr: 0 },
    };
    const anchorSpan = (this.options.anchorEveryWindows ?? 10) * WINDOW_LENGTH;
    let published: PublishedCheckpoint;
    if (this.last === null || window % anchorSpan === 0) {
      if (this.last !== null) this.state = perturbWeights(this.state, { seed: window });
      const { weightsHash } = await this.publisher.publishFull({
        ...common,
        state: this.state,
        modelName: model.modelName,
        extraFiles: model.files,
      });
      published = { window, type: "FULL", weightsHash };
      this.last = { window, anchor: window };
    } else {
      const prevState = this.state;
      const state = perturbWeights(prevState, { seed: window });
      const { weightsHash, nonzero } = await this.publisher.publishDelta({
        ...common,
        prevWindow: this.last.window,
        anchorWindow: this.last.anchor,
        prevState,
        state,
        format: this.options.format ?? "sparse_codec_v3.1",
      });
      this.state = state;
      published = { window, type: "DELTA", weightsHash, nonzero };
      this.last = { window, anchor: this.last.anchor };
    }
    this.history.push(published);
    this.options.log?.("trainer published a checkpoint", { ...published });
    return published;
  }
}
