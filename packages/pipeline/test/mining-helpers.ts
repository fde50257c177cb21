import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { PromptSpec, RewardResult } from "@grail/environments";
import { type Completion, type SamplingPolicy, StaleWeightsError } from "@grail/generation";
import { type CapturedLine, captureLogger } from "@grail/log/testing";
import { createMetrics, type MinerMetrics } from "@grail/metrics";
import { commitBinding, LAYER_INDEX, type RolloutRecord } from "@grail/protocol";
import type { CheckpointMetadata } from "@grail/storage";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady, signatureVerify } from "@polkadot/util-crypto";
import type {
  CheckpointSource,
  GenerationPort,
  MiningChain,
  MiningEnvironment,
  MiningTokenizer,
  PoolModel,
  PoolStats,
  ProofContext,
  ProofGroup,
  ProofPort,
  ProvedGroup,
  WindowSink,
  WindowUploadOutcome,
} from "../src/index.js";
import { GroupDroppedError } from "../src/index.js";
import type { HotkeySigner } from "../src/pool/types.js";

export async function aliceSigner(): Promise<HotkeySigner> {
  await cryptoWaitReady();
  const pair = new Keyring({ type: "sr25519" }).addFromUri("//Alice");
  return { ss58: pair.address, publicKey: pair.publicKey, sign: (m) => pair.sign(m) };
}

export function verifies(message: Uint8Array | string, signatureHex: string, ss58: string): boolean {
  return signatureVerify(message, `0x${signatureHex}`, ss58).isValid;
}

export type Line = CapturedLine;

/** A Logger that records every line and prints nothing. */
export const quietLogger = (lines: Line[] = []) => captureLogger(lines);

export const nullMetrics = (): MinerMetrics => createMetrics({ backend: "null" });

export const BLOCK_HASH = `0x${"1a".repeat(32)}`;
export const RANDOMNESS = "9f".repeat(32);

/** A chain whose head advances by one block every `blockMs` (or only by hand when 0). */
export class FakeChain implements MiningChain {
  head: number;
  private timer: NodeJS.Timeout | null = null;
  private waiters: { target: number; resolve: (b: number) => void }[] = [];
  failReads = 0;
  reads = 0;

  constructor(start: number, blockMs = 0) {
    this.head = start;
    if (blockMs > 0) {
      this.timer = setInterval(() => this.advance(1), blockMs);
      this.timer.unref();
    }
  }

  advance(n: number): void {
    this.head += n;
    const ready = this.waiters.filter((w) => this.head >= w.target);
    this.waiters = this.waiters.filter((w) => this.head < w.target);
    for (const w of ready) w.resolve(this.head);
  }

  async currentBlock(): Promise<number> {
    this.reads++;
    if (this.failReads > 0) {
      this.failReads--;
      throw new Error("chain unreachable");
    }
    return this.head;
  }

  async blockHash(block: number): Promise<string> {
    return `0x${createHash("sha256").update(`block-${block}`).digest("hex")}`;
  }

  waitForBlock(target: number, signal?: AbortSignal): Promise<number> {
    if (this.head >= target) return Promise.resolve(this.head);
    return new Promise((resolve, reject) => {
      this.waiters.push({ target, resolve });
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Prompts are the characters of the rendered text (byte ids); decoding maps ids back. */
export const fakeTokenizer: MiningTokenizer = {
  renderChat: (messages) => messages.map((m) => `<${m.role}>${m.content}`).join("") + "<assistant>",
  encode: async (text) => [...Buffer.from(text, "utf8")].map((b) => b + 3),
  decode: async (ids) => Buffer.from(ids.map((i) => (i - 3) & 0xff)).toString("latin1"),
};

/** Problem g asks for a number; a completion whose first id is even "solves" it. */
export const fakeEnvironment: MiningEnvironment = {
  problemForGroup: async (_hotkey, _hash, group) => ({ question: `q${group}`, group }),
  prompt: (problem): PromptSpec => ({
    messages: [
      { role: "system", content: "sys" },
      { role: "user", content: (problem as { question: string }).question },
    ],
    thinkingMode: "instructed",
    chatTemplate: "protocol-chatml",
    addGenerationPrompt: true,
    enableThinking: undefined,
  }),
  score: async (_problem, completion): Promise<RewardResult> => {
    const ok = completion.charCodeAt(0) % 2 === 0;
    return {
      reward: ok ? 1 : 0,
      success: ok,
      components: {},
      details: { kind: "answer", goldAnswer: "1", predAnswer: ok ? "1" : "0" },
    };
  },
};

export interface GenerateCall {
  prompts: number;
  startedAt: number;
  endedAt: number;
}

/** A generation server stand-in: completions of `length` ids after `delayMs`. */
export class FakeGeneration implements GenerationPort {
  loadedCheckpoint: string | null;
  delayMs = 20;
  length = 40;
  calls: GenerateCall[] = [];
  syncs: string[] = [];
  failNext = 0;
  failSync = false;
  /** Completion index (within a call) → length override. */
  lengthOf: (call: number, prompt: number) => number = () => this.length;

  constructor(dir: string) {
    this.loadedCheckpoint = dir;
  }

  async generate(
    prompts: readonly (readonly number[])[],
    policy: SamplingPolicy,
    options: { expectCheckpoint: string },
  ): Promise<Completion[]> {
    if (options.expectCheckpoint !== this.loadedCheckpoint) {
      throw new StaleWeightsError(`holds ${this.loadedCheckpoint}, asked ${options.expectCheckpoint}`, {});
    }
    const call: GenerateCall = { prompts: prompts.length, startedAt: Date.now(), endedAt: 0 };
    const callIndex = this.calls.length;
    this.calls.push(call);
    await sleep(this.delayMs);
    call.endedAt = Date.now();
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("generation server unreachable");
    }
    return prompts.map((p, i) => {
      const n = Math.min(this.lengthOf(callIndex, i), policy.maxNewTokens);
      return {
        promptIds: p,
        outputIds: Array.from({ length: n }, (_, j) => 3 + ((callIndex * 7 + i * 13 + j * 5) % 200)),
        status: "generated" as const,
        finishReason: "length" as const,
        matchedStop: null,
      };
    });
  }

  async syncWeights(dir: string): Promise<{ method: "in-place"; durationMs: number }> {
    this.syncs.push(dir);
    if (this.failSync) {
      this.loadedCheckpoint = null;
      throw new Error("weight sync failed");
    }
    this.loadedCheckpoint = dir;
    return { method: "in-place", durationMs: 1 };
  }
}

/** Deterministic "sketches" so tests can check what reached the file. */
export function fakeSketch(token: number, position: number): number {
  return (token * 2654435761 + position * 40503) % 2147483647;
}

/**
 * A proof pool stand-in that proves like the real one (per-token sketches, completion logprobs,
 * binding digests signed by the hotkey) after `delayMs`, at most `capacity` groups at a time.
 */
export class FakeProofs implements ProofPort {
  checkpointWindow: number;
  delayMs = 30;
  capacity = 2;
  active = 0;
  maxActive = 0;
  pendingNow = 0;
  failGroups = new Set<string>();
  /** Every group is dropped, as when no proof worker is left. */
  failAll = false;
  reloads: PoolModel[] = [];
  proved: { groupId: string; startedAt: number; endedAt: number }[] = [];
  private queue: (() => void)[] = [];

  constructor(
    private readonly signer: HotkeySigner,
    checkpointWindow: number,
  ) {
    this.checkpointWindow = checkpointWindow;
  }

  async proveGroup(group: ProofGroup, ctx: ProofContext): Promise<ProvedGroup> {
    this.pendingNow++;
    try {
      if (this.active >= this.capacity) await new Promise<void>((r) => this.queue.push(r));
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      const startedAt = Date.now();
      await sleep(this.delayMs);
      this.active--;
      this.queue.shift()?.();
      this.proved.push({ groupId: group.groupId, startedAt, endedAt: Date.now() });
      if (this.failAll) throw new GroupDroppedError(group.groupId, "no proof worker is available");
      if (this.failGroups.has(group.groupId))
        throw new GroupDroppedError(group.groupId, "worker crashed twice");
      if (ctx.checkpointWindow !== this.checkpointWindow) {
        throw new GroupDroppedError(group.groupId, "stale checkpoint");
      }
      return {
        groupId: group.groupId,
        checkpointWindow: ctx.checkpointWindow,
        gpu: 0,
        pid: process.pid,
        attempts: 1,
        proveMs: this.delayMs,
        rollouts: group.rollouts.map((r) => {
          const tokens = Array.from(r.tokens);
          const sVals = Uint32Array.from(tokens, (t, i) => fakeSketch(t, i));
          const bindingHash = commitBinding({
            tokens,
            randomnessHex: ctx.randomnessHex,
            modelName: ctx.modelName,
            layerIndex: LAYER_INDEX,
            sketches: sVals,
          });
          return {
            sVals,
            logprobs: Float32Array.from({ length: tokens.length - r.promptLen }, (_, j) => -0.25 - j / 1000),
            eosProb: 0.5,
            commitmentsHash: new Uint8Array(32),
            bindingHash,
            signature: this.signer.sign(bindingHash),
          };
        }),
      };
    } finally {
      this.pendingNow--;
    }
  }

  async reload(model: PoolModel) {
    this.reloads.push(model);
    this.checkpointWindow = model.checkpointWindow;
    return [{ gpu: 0, outcome: "reloaded" as const }];
  }

  stats(): PoolStats {
    return {
      topology: "in-process",
      checkpointWindow: this.checkpointWindow,
      pending: this.pendingNow,
      proved: this.proved.length,
      retried: 0,
      dropped: 0,
      workers: [],
    };
  }
}

/** A sink that keeps rows in memory and "uploads" instantly (or fails when told to). */
export class MemorySink implements WindowSink {
  readonly open = new Map<number, RolloutRecord[]>();
  readonly published = new Map<number, RolloutRecord[]>();
  addTimes: number[] = [];
  fail = false;

  add(windowStart: number, rows: RolloutRecord[]): void {
    this.addTimes.push(Date.now());
    const list = this.open.get(windowStart) ?? [];
    list.push(...rows);
    this.open.set(windowStart, list);
  }

  discard(windowStart: number): void {
    this.open.delete(windowStart);
  }

  async publish(windowStart: number, input: { hotkey: string }): Promise<WindowUploadOutcome> {
    const rows = this.open.get(windowStart) ?? [];
    this.open.delete(windowStart);
    const outcome: WindowUploadOutcome = {
      windowStart,
      status: this.fail ? "failed" : "uploaded",
      rows: rows.length,
      size: rows.length * 100,
      key: `grail/windows/${input.hotkey}-window-${windowStart}.parquet`,
      durationMs: 5,
      writeMs: 1,
      retrying: false,
      final: Promise.resolve(undefined as unknown as WindowUploadOutcome),
      ...(this.fail ? { error: "store down" } : {}),
    };
    outcome.final = Promise.resolve(outcome);
    if (!this.fail) this.published.set(windowStart, rows);
    return outcome;
  }

  async recoverSpool() {
    return { retried: 0, uploaded: 0, discarded: 0, quarantined: 0 };
  }

  async idle(): Promise<void> {}
  async close(): Promise<void> {}
}

export const GEN_PARAMS = {
  max_tokens: 64,
  temperature: 0.7,
  top_p: 0.9,
  top_k: 50,
  repetition_penalty: 1.0,
};

export function checkpointMetadata(
  window: number,
  overrides: Partial<CheckpointMetadata> = {},
): CheckpointMetadata {
  return {
    window,
    parent_window: null,
    file_manifest: {},
    training_config: {},
    git_commit: "test",
    created_at: 0,
    model_name: "test/model",
    checkpoint_type: "FULL",
    prev_window: null,
    anchor_window: null,
    weights_hash: null,
    env_id: "gsm8k",
    env_params: {},
    generation_params: { ...GEN_PARAMS },
    thinking_mode: "instructed",
    ...overrides,
  };
}

/** Checkpoints keyed by window; each is ready for windows after `readyAfter`. */
export class FakeCheckpoints implements CheckpointSource {
  readonly ready = new Map<number, { readyAfter: number; meta: CheckpointMetadata; dir: string }>();
  loads: number[] = [];
  failLoad = new Set<number>();

  add(window: number, readyAfter: number, dir: string, meta = checkpointMetadata(window)): void {
    this.ready.set(window, { readyAfter, meta, dir });
  }

  async latestReadyCheckpoint(window: number): Promise<number | null> {
    let best: [number, number] | null = null;
    for (const [c, r] of this.ready) {
      if (
        r.readyAfter < window &&
        (!best || r.readyAfter > best[0] || (r.readyAfter === best[0] && c > best[1]))
      ) {
        best = [r.readyAfter, c];
      }
    }
    return best ? best[1] : null;
  }

  async getMetadata(window: number): Promise<CheckpointMetadata | null> {
    return this.ready.get(window)?.meta ?? null;
  }

  async getCheckpoint(window: number) {
    this.loads.push(window);
    if (this.failLoad.has(window)) throw new Error(`checkpoint ${window} download failed`);
    const entry = this.ready.get(window);
    if (!entry) throw new Error(`no checkpoint ${window}`);
    return { dir: entry.dir, method: "full" as const };
  }
}
