import { resolve } from "node:path";
import { type Backend, loadModel, type ProofModel } from "@grail/engine-native";
import { ChatTokenizer } from "@grail/generation";
import type { EnvironmentFactory } from "@grail/pipeline";
import {
  combineRandomness,
  noDrandRandomness,
  WINDOW_LENGTH,
  windowDeadlineSeconds,
  windowFileKey,
} from "@grail/protocol";
import { type CheckpointMetadata, ObjectNotFoundError, type ObjectStoreClient } from "@grail/storage";
import { ValidatorSetupError } from "./errors.js";
import type { DistributionScope, LoadedCheckpoint, RolloutSelection, WindowFileInput } from "./input.js";
import type { ValidationReport } from "./report.js";
import { validateWindowFile } from "./validate.js";

/** What the validator reads from the chain: block hashes and timestamps, and waiting for a block. */
export interface ValidatorChain {
  blockHash(block: number): Promise<string>;
  /** Unix ms of a block; null when unknown (the deadline is then not checked). */
  blockTimestampMs(block: number): Promise<number | null>;
  currentBlock(): Promise<number>;
  waitForBlock?(target: number, signal?: AbortSignal): Promise<number>;
}

/** The trainer's checkpoints as the validator selects them (§5.7). */
export interface ValidatorCheckpoints {
  latestReadyCheckpoint(window: number): Promise<number | null>;
  getMetadata(window: number): Promise<CheckpointMetadata | null>;
  /** A local directory with the checkpoint's weights and tokenizer. */
  getCheckpoint(window: number): Promise<string | { dir: string }>;
}

export interface LocalValidatorOptions {
  chain: ValidatorChain;
  /** Read client of the bucket holding the miner's window files; without it only `file` validates. */
  minerStore?: ObjectStoreClient;
  checkpoints: ValidatorCheckpoints;
  environments: EnvironmentFactory;
  engine?: { backend?: Backend; threads?: number };
  selection?: RolloutSelection;
  distribution?: DistributionScope;
  /**
   * drand randomness the real validator would mix into window_rand; without it window_rand is
   * sha256(hash of block W+30), the validator's no-drand formula.
   */
  drandRandomness?: string | null;
  progress?: (message: string) => void;
}

export interface ValidateOptions {
  /** Overrides window_rand (hex) instead of deriving it from block W+30. */
  challengeRandomness?: string;
  /** Validates this file instead of downloading the window's object. */
  file?: WindowFileInput;
  /** Overrides the validator's rollout selection for this call. */
  selection?: RolloutSelection;
  /** Overrides which rollouts get P9 for this call. */
  distribution?: DistributionScope;
  /** Waits for block W+30 when it does not exist yet (default true when the chain can wait). */
  waitForChallengeBlock?: boolean;
  signal?: AbortSignal;
}

/**
 * The local validator: for a window and a hotkey, downloads the window file from the miner's
 * bucket, selects and loads the trainer's checkpoint like a validator, derives window_rand from
 * the hash of block W+30, and runs `validateWindowFile`. The model stays loaded between windows
 * and is reloaded in place when the checkpoint changes.
 */
export class LocalValidator {
  private model: ProofModel | null = null;
  private loaded: { window: number; dir: string; tokenizer: ChatTokenizer } | null = null;

  constructor(private readonly options: LocalValidatorOptions) {}

  /** window_rand of window W: from block W+30's hash (and drand when given), as §5.5 says. */
  async challengeRandomness(window: number, wait: boolean, signal?: AbortSignal): Promise<string> {
    const { chain } = this.options;
    const target = window + WINDOW_LENGTH;
    if ((await chain.currentBlock()) < target) {
      if (!wait || !chain.waitForBlock) {
        throw new ValidatorSetupError(
          `block ${target} (the first of the next window) does not exist yet; its hash seeds the challenge. Validate window ${window} once the chain reaches it, or pass --challenge-randomness`,
          { window, target },
        );
      }
      await chain.waitForBlock(target, signal);
    }
    const hash = await chain.blockHash(target);
    const drand = this.options.drandRandomness;
    return drand ? combineRandomness(hash, drand) : noDrandRandomness(hash);
  }

  private async loadCheckpoint(window: number): Promise<LoadedCheckpoint | null> {
    const { checkpoints, engine } = this.options;
    const C = await checkpoints.latestReadyCheckpoint(window);
    if (C === null) return null;
    const metadata = await checkpoints.getMetadata(C);
    if (!metadata) return null;
    if (this.loaded?.window !== C) {
      const got = await checkpoints.getCheckpoint(C);
      const dir = resolve(typeof got === "string" ? got : got.dir);
      if (this.model) {
        try {
          await this.model.reload(dir);
        } catch {
          this.model.close();
          this.model = null;
        }
      }
      this.model ??= await loadModel(dir, {
        ...(engine?.backend ? { backend: engine.backend } : {}),
        ...(engine?.threads ? { threads: engine.threads } : {}),
      });
      this.loaded = { window: C, dir, tokenizer: await ChatTokenizer.fromDir(dir) };
    }
    const model = this.model!;
    return {
      window: C,
      metadata,
      tokenizer: this.loaded.tokenizer,
      model: {
        info: model.info,
        prove: (batch, randomness) => model.prove(batch, randomness),
        lastLogits: (sequences) => model.lastLogits(sequences),
      },
    };
  }

  private async download(hotkey: string, window: number): Promise<WindowFileInput | null> {
    const store = this.options.minerStore;
    const key = windowFileKey(hotkey, window);
    if (!store) {
      throw new ValidatorSetupError(`no miner bucket to download ${key} from; pass the file to validate`, {
        key,
      });
    }
    try {
      const info = await store.headWithGzipProbe(key);
      const object = await store.download(key);
      return {
        bytes: object.bytes,
        size: info.size,
        lastModified: info.lastModified ?? null,
        source: `s3://${store.bucket}/${object.sourceKey}`,
      };
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return null;
      throw err;
    }
  }

  async validate(hotkey: string, window: number, options: ValidateOptions = {}): Promise<ValidationReport> {
    const { chain } = this.options;
    const blockHash = await chain.blockHash(window);
    const challengeRandomness =
      options.challengeRandomness ??
      (await this.challengeRandomness(
        window,
        options.waitForChallengeBlock ?? chain.waitForBlock !== undefined,
        options.signal,
      ));
    const nextTs = await chain.blockTimestampMs(window + WINDOW_LENGTH);
    const file = options.file ?? (await this.download(hotkey, window));
    return validateWindowFile({
      hotkey,
      window,
      blockHash,
      challengeRandomness,
      file,
      deadlineSeconds: nextTs === null ? null : windowDeadlineSeconds(nextTs),
      loadCheckpoint: () => this.loadCheckpoint(window),
      environments: this.options.environments,
      ...((options.selection ?? this.options.selection)
        ? { selection: (options.selection ?? this.options.selection)! }
        : {}),
      ...((options.distribution ?? this.options.distribution) !== undefined
        ? { distribution: (options.distribution ?? this.options.distribution)! }
        : {}),
      ...(this.options.progress ? { progress: this.options.progress } : {}),
    });
  }

  close(): void {
    this.model?.close();
    this.model = null;
    this.loaded = null;
  }
}
