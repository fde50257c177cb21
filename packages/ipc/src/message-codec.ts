/**
 * The wire form of the worker messages: each message type's header fields and payload arrays,
 * checked field by field when a frame is decoded (MessageError names what is wrong), plus the
 * structural checks the field types alone do not cover, and encoding back into one frame.
 */
import { isIpcErrorCode, MessageError } from "./errors.js";
import { type Dtype, encodeFrame, type Frame, type PayloadArray } from "./frame.js";
import {
  HASH_BYTES,
  type ProvedReply,
  type ProveRequest,
  type WorkerMessage,
  type WorkerReply,
  type WorkerRequest,
} from "./messages.js";

// ---- schema ---------------------------------------------------------------------------------

type FieldKind =
  | "id"
  | "nullableId"
  | "int"
  | "nullableInt"
  | "number"
  | "string"
  | "nullableString"
  | "bool"
  | "intArray"
  | "object";

interface FieldSpec {
  kind: FieldKind;
  optional?: boolean;
}

interface MessageSpec {
  fields: Record<string, FieldSpec>;
  payloads: Record<string, Dtype>;
}

const f = (kind: FieldKind, optional = false): FieldSpec => ({ kind, optional });

const REQUEST_SPECS: Record<WorkerRequest["type"], MessageSpec> = {
  load: {
    fields: {
      id: f("id"),
      protocolVersion: f("int"),
      modelDir: f("string"),
      checkpointWindow: f("int"),
      backend: f("string", true),
      device: f("int", true),
      threads: f("int", true),
      options: f("object", true),
    },
    payloads: {},
  },
  reload: {
    fields: { id: f("id"), modelDir: f("string"), checkpointWindow: f("int") },
    payloads: {},
  },
  prove: {
    fields: {
      id: f("id"),
      checkpointWindow: f("int"),
      randomnessHex: f("string"),
      modelName: f("string"),
      layerIndex: f("int"),
      groupSizes: f("intArray"),
    },
    payloads: { tokens: "int32", lengths: "int32", promptLens: "int32" },
  },
  health: { fields: { id: f("id") }, payloads: {} },
  shutdown: { fields: { id: f("id") }, payloads: {} },
};

const REPLY_SPECS: Record<WorkerReply["type"], MessageSpec> = {
  hello: {
    fields: { protocolVersion: f("int"), engine: f("string"), pid: f("int"), runtime: f("string") },
    payloads: {},
  },
  loaded: {
    fields: {
      id: f("id"),
      checkpointWindow: f("int"),
      modelDir: f("string"),
      backend: f("string"),
      device: f("string"),
      model: f("object"),
      elapsedMs: f("number"),
    },
    payloads: {},
  },
  reloaded: {
    fields: { id: f("id"), checkpointWindow: f("int"), modelDir: f("string"), elapsedMs: f("number") },
    payloads: {},
  },
  proved: {
    fields: {
      id: f("id"),
      checkpointWindow: f("int"),
      proveMs: f("number"),
      hashMs: f("number"),
      totalMs: f("number"),
    },
    payloads: {
      sVals: "uint32",
      logprobs: "float32",
      eosProbs: "float64",
      commitmentsHashes: "uint8",
      bindingHashes: "uint8",
    },
  },
  status: {
    fields: {
      id: f("id"),
      state: f("string"),
      checkpointWindow: f("nullableInt"),
      modelDir: f("nullableString"),
      busy: f("bool"),
      queued: f("int"),
      jobsDone: f("int"),
      uptimeMs: f("number"),
      rssBytes: f("number"),
    },
    payloads: {},
  },
  bye: { fields: { id: f("id") }, payloads: {} },
  error: {
    fields: { id: f("nullableId"), code: f("string"), message: f("string"), details: f("object", true) },
    payloads: {},
  },
};

function checkField(name: string, value: unknown, spec: FieldSpec): string | null {
  if (value === undefined) return spec.optional ? null : `field ${name} is missing`;
  const ok = (() => {
    switch (spec.kind) {
      case "id":
        return Number.isSafeInteger(value) && (value as number) >= 0;
      case "nullableId":
        return value === null || (Number.isSafeInteger(value) && (value as number) >= 0);
      case "int":
        return Number.isSafeInteger(value);
      case "nullableInt":
        return value === null || Number.isSafeInteger(value);
      case "number":
        return typeof value === "number" && Number.isFinite(value);
      case "string":
        return typeof value === "string";
      case "nullableString":
        return value === null || typeof value === "string";
      case "bool":
        return typeof value === "boolean";
      case "intArray":
        return Array.isArray(value) && value.every((x) => Number.isSafeInteger(x));
      case "object":
        return typeof value === "object" && value !== null && !Array.isArray(value);
    }
  })();
  return ok ? null : `field ${name} must be ${describeKind(spec.kind)}, got ${JSON.stringify(value)}`;
}

function describeKind(kind: FieldKind): string {
  return {
    id: "a non-negative integer",
    nullableId: "a non-negative integer or null",
    int: "an integer",
    nullableInt: "an integer or null",
    number: "a finite number",
    string: "a string",
    nullableString: "a string or null",
    bool: "a boolean",
    intArray: "an array of integers",
    object: "an object",
  }[kind];
}

function build(frame: Frame, specs: Record<string, MessageSpec>, direction: string): Record<string, unknown> {
  const { header, payloads } = frame;
  const id =
    typeof header.id === "number" && Number.isSafeInteger(header.id) && header.id >= 0 ? header.id : null;
  const type = header.type;
  if (typeof type !== "string" || !Object.hasOwn(specs, type)) {
    throw new MessageError(
      "unknown_message",
      `unknown ${direction} message type ${JSON.stringify(type)}; expected one of ${Object.keys(specs).join(", ")}`,
      id,
    );
  }
  const spec = specs[type]!;
  const msg: Record<string, unknown> = { type };
  for (const [name, fs] of Object.entries(spec.fields)) {
    const problem = checkField(name, header[name], fs);
    if (problem) throw new MessageError("invalid_message", `${type}: ${problem}`, id);
    if (header[name] !== undefined) msg[name] = header[name];
  }
  for (const [name, dtype] of Object.entries(spec.payloads)) {
    const array = payloads[name];
    if (!array) throw new MessageError("invalid_message", `${type}: payload ${name} is missing`, id);
    const actual = dtypeName(array);
    if (actual !== dtype) {
      throw new MessageError(
        "invalid_message",
        `${type}: payload ${name} must be ${dtype}, got ${actual}`,
        id,
      );
    }
    msg[name] = array;
  }
  return msg;
}

function dtypeName(a: PayloadArray): Dtype {
  if (a instanceof Uint8Array) return "uint8";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint32Array) return "uint32";
  if (a instanceof Float32Array) return "float32";
  return "float64";
}

const HEX_RE = /^(0[xX])?[0-9a-fA-F]+$/;

/** Structural checks of a prove request that the field types alone do not cover. */
export function proveRequestProblem(req: Omit<ProveRequest, "type" | "id">): string | null {
  const n = req.lengths.length;
  if (req.promptLens.length !== n) {
    return `promptLens has ${req.promptLens.length} entries for ${n} rollouts`;
  }
  if (req.groupSizes.some((g) => g < 1)) return "every group size must be at least 1";
  const inGroups = req.groupSizes.reduce((a, b) => a + b, 0);
  if (inGroups !== n) return `groupSizes add up to ${inGroups} rollouts, lengths has ${n}`;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const len = req.lengths[i]!;
    const p = req.promptLens[i]!;
    if (len < 2) return `rollout ${i} has ${len} tokens; a rollout needs at least 2`;
    if (p < 1 || p > len) return `rollout ${i}: promptLen ${p} must be in [1, ${len}]`;
    total += len;
  }
  if (total !== req.tokens.length)
    return `lengths add up to ${total} tokens, tokens has ${req.tokens.length}`;
  if (!HEX_RE.test(req.randomnessHex)) return "randomnessHex must be a hex string";
  return null;
}

/** Checks that a proved reply's arrays agree with each other (not yet with the request). */
export function provedReplyProblem(rep: ProvedReply): string | null {
  const n = rep.eosProbs.length;
  if (rep.commitmentsHashes.length !== n * HASH_BYTES) {
    return `commitmentsHashes has ${rep.commitmentsHashes.length} bytes for ${n} rollouts`;
  }
  if (rep.bindingHashes.length !== n * HASH_BYTES) {
    return `bindingHashes has ${rep.bindingHashes.length} bytes for ${n} rollouts`;
  }
  return null;
}

/** Validates a decoded frame as a request to a worker. Throws MessageError. */
export function parseRequest(frame: Frame): WorkerRequest {
  const msg = build(frame, REQUEST_SPECS, "request") as unknown as WorkerRequest;
  if (msg.type === "load" && msg.backend !== undefined && msg.backend !== "cpu" && msg.backend !== "cuda") {
    throw new MessageError(
      "invalid_message",
      `load: backend must be "cpu" or "cuda", got ${msg.backend}`,
      msg.id,
    );
  }
  if (
    (msg.type === "load" && msg.device !== undefined && msg.device < 0) ||
    (msg.type === "load" && (msg.threads ?? 0) < 0)
  ) {
    throw new MessageError("invalid_message", "load: device and threads must be non-negative", msg.id);
  }
  if (msg.type === "prove") {
    const problem = proveRequestProblem(msg);
    if (problem) throw new MessageError("invalid_message", `prove: ${problem}`, msg.id);
  }
  return msg;
}

/** Validates a decoded frame as a message from a worker. Throws MessageError. */
export function parseReply(frame: Frame): WorkerReply {
  const msg = build(frame, REPLY_SPECS, "reply") as unknown as WorkerReply;
  if (msg.type === "error" && !isIpcErrorCode(msg.code)) {
    throw new MessageError("invalid_message", `error: unknown code ${JSON.stringify(msg.code)}`, msg.id);
  }
  if (msg.type === "hello" && msg.engine !== "native" && msg.engine !== "torch") {
    throw new MessageError("invalid_message", `hello: unknown engine ${JSON.stringify(msg.engine)}`);
  }
  if (msg.type === "proved") {
    const problem = provedReplyProblem(msg);
    if (problem) throw new MessageError("invalid_message", `proved: ${problem}`, msg.id);
  }
  return msg;
}

/** Encodes any protocol message as one frame: spec'd payload fields become payloads. */
export function encodeMessage(msg: WorkerMessage): Buffer {
  const spec =
    (REQUEST_SPECS as Record<string, MessageSpec>)[msg.type] ??
    (REPLY_SPECS as Record<string, MessageSpec>)[msg.type];
  if (!spec) throw new TypeError(`unknown message type ${msg.type}`);
  const header: Record<string, unknown> = {};
  const payloads: Record<string, PayloadArray> = {};
  for (const [key, value] of Object.entries(msg)) {
    if (Object.hasOwn(spec.payloads, key)) payloads[key] = value as PayloadArray;
    else if (value !== undefined) header[key] = value;
  }
  return encodeFrame(header, payloads);
}
