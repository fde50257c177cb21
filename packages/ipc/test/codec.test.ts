import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type DecodeResult,
  decodeFrameBody,
  encodeFrame,
  encodeMessage,
  type Frame,
  FrameDecoder,
  IPC_PROTOCOL_VERSION,
  MessageError,
  type ProvedReply,
  type ProveRequest,
  parseReply,
  parseRequest,
} from "../src/index.js";

function frames(results: DecodeResult[]): Frame[] {
  return results.map((r) => {
    if (!r.ok) throw r.error;
    return r.frame;
  });
}

/** A frame body built by hand: header bytes as given, then the payload section. */
function rawFrame(headerBytes: Uint8Array, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.alloc(8 + headerBytes.length + payload.length);
  out.writeUInt32LE(4 + headerBytes.length + payload.length, 0);
  out.writeUInt32LE(headerBytes.length, 4);
  out.set(headerBytes, 8);
  out.set(payload, 8 + headerBytes.length);
  return out;
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v), "utf8");

function proveRequest(): ProveRequest {
  return {
    type: "prove",
    id: 7,
    checkpointWindow: 300,
    randomnessHex: "ab".repeat(32),
    modelName: "Qwen/Qwen2.5-1.5B",
    layerIndex: -1,
    groupSizes: [2, 1],
    tokens: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    lengths: Int32Array.from([3, 4, 2]),
    promptLens: Int32Array.from([1, 2, 1]),
  };
}

describe("frame codec", () => {
  it("round-trips a header and typed payloads with 8-byte aligned payloads", () => {
    const payloads = {
      a: Uint8Array.from([1, 2, 3]),
      b: Int32Array.from([-1, 2 ** 31 - 1, -(2 ** 31)]),
      c: Uint32Array.from([0, 2 ** 32 - 1]),
      d: Float32Array.from([0.5, Number.NEGATIVE_INFINITY, Number.NaN]),
      e: Float64Array.from([Math.PI, -0]),
    };
    const buf = encodeFrame({ type: "x", id: 1, note: "ü" }, payloads);
    expect(buf.readUInt32LE(0)).toBe(buf.length - 4);
    const headerLen = buf.readUInt32LE(4);
    expect((8 + headerLen) % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8"));
    for (const d of header.payloads) expect(d.byteOffset % 8).toBe(0);
    const [frame] = frames(new FrameDecoder().push(buf));
    expect(frame!.header).toEqual({ type: "x", id: 1, note: "ü" });
    expect(frame!.payloads).toEqual(payloads);
    expect(Object.is((frame!.payloads.e as Float64Array)[1], -0)).toBe(true);
  });

  it("reassembles frames from arbitrary chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 40 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        (arrays, cuts) => {
          const stream = Buffer.concat(arrays.map((a, i) => encodeFrame({ i }, { v: Int32Array.from(a) })));
          const decoder = new FrameDecoder();
          const got: Frame[] = [];
          let at = 0;
          let k = 0;
          while (at < stream.length) {
            const n = cuts[k++ % cuts.length]!;
            got.push(...frames(decoder.push(stream.subarray(at, at + n))));
            at += n;
          }
          expect(got.map((g) => g.header.i)).toEqual(arrays.map((_, i) => i));
          expect(got.map((g) => Array.from(g.payloads.v!))).toEqual(arrays);
          expect(decoder.pendingBytes).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("reports each malformed frame and keeps decoding the ones after it", () => {
    const good = encodeFrame({ type: "health", id: 9 });
    const bad: Buffer[] = [
      Buffer.from([2, 0, 0, 0, 1, 2]), // body too short for a header length
      (() => {
        const b = rawFrame(json({ type: "x" }));
        b.writeUInt32LE(1000, 4); // header length past the end
        return b;
      })(),
      rawFrame(Buffer.from("{not json", "utf8")),
      rawFrame(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])), // not UTF-8
      rawFrame(json([1, 2])),
      rawFrame(json({ id: 4, payloads: {} })),
      rawFrame(json({ id: 5, payloads: [{ name: "x", dtype: "int64", byteOffset: 0, length: 1 }] })),
      rawFrame(
        json({ id: 6, payloads: [{ name: "x", dtype: "int32", byteOffset: 0, length: 3 }] }),
        new Uint8Array(8),
      ),
      rawFrame(
        json({
          id: 8,
          payloads: [
            { name: "x", dtype: "uint8", byteOffset: 0, length: 1 },
            { name: "x", dtype: "uint8", byteOffset: 0, length: 1 },
          ],
        }),
        new Uint8Array(1),
      ),
    ];
    const results = new FrameDecoder().push(Buffer.concat([...bad.flatMap((b) => [b, good])]));
    expect(results).toHaveLength(bad.length * 2);
    for (let i = 0; i < bad.length; i++) {
      const r = results[2 * i]!;
      expect(r.ok, `bad frame ${i}`).toBe(false);
      expect(results[2 * i + 1]!.ok).toBe(true);
    }
    const errors = results
      .filter((r) => !r.ok)
      .map((r) => (r as { error: { code: string; requestId: number | null } }).error);
    expect(errors.map((e) => e.code)).toEqual([
      "malformed_frame",
      "malformed_frame",
      "invalid_header",
      "invalid_header",
      "invalid_header",
      "invalid_header",
      "invalid_header",
      "malformed_frame",
      "invalid_header",
    ]);
    // Requests whose header still names an id get it back for the error reply.
    expect(errors.slice(5).map((e) => e.requestId)).toEqual([4, 5, 6, 8]);
  });

  it("skips an oversized frame without buffering it and resynchronises", () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 64 });
    const big = encodeFrame({ type: "x" }, { v: new Uint8Array(1000) });
    const good = encodeFrame({ type: "ok" });
    const results: DecodeResult[] = [];
    for (let at = 0; at < big.length; at += 100) {
      results.push(...decoder.push(big.subarray(at, at + 100)));
      expect(decoder.pendingBytes).toBeLessThan(100);
    }
    results.push(...decoder.push(good));
    expect(results.map((r) => (r.ok ? r.frame.header.type : r.error.code))).toEqual([
      "frame_too_large",
      "ok",
    ]);
  });

  it("rejects a length prefix longer than its header describes at once and decodes the next frame", () => {
    // A health request whose prefix claims 1000 bytes more than the frame has: without the check the
    // decoder waits for bytes that never come and swallows every later request.
    const lying = encodeFrame({ type: "health", id: 1 }, { x: new Int32Array([1, 2]) });
    lying.writeUInt32LE(lying.readUInt32LE(0) + 1000, 0);
    const decoder = new FrameDecoder();
    const results = decoder.push(Buffer.concat([lying, encodeFrame({ type: "health", id: 2 })]));
    expect(results.map((r) => (r.ok ? r.frame.header.id : `${r.error.code} ${r.error.requestId}`))).toEqual([
      "malformed_frame 1",
      2,
    ]);
    expect((results[0] as { error: Error }).error.message).toMatch(
      /length prefix says 1\d+ bytes but the header describes \d+/,
    );
    expect(decoder.pendingBytes).toBe(0);
    // Split anywhere, the answer is the same.
    const whole = Buffer.concat([lying, encodeFrame({ type: "health", id: 3 })]);
    for (let cut = 1; cut < whole.length; cut += 7) {
      const d = new FrameDecoder();
      const got = [...d.push(whole.subarray(0, cut)), ...d.push(whole.subarray(cut))];
      expect(got.map((r) => (r.ok ? r.frame.header.id : r.error.code))).toEqual(["malformed_frame", 3]);
    }
  });

  it("refuses the reserved payloads header key", () => {
    expect(() => encodeFrame({ payloads: 1 })).toThrow(/reserved/);
    expect(() => decodeFrameBody(new Uint8Array(2))).toThrow(/header length/);
  });
});

describe("messages", () => {
  const roundTrip = (m: Parameters<typeof encodeMessage>[0]) =>
    frames(new FrameDecoder().push(encodeMessage(m)))[0]!;

  it("round-trips every request and reply", () => {
    const req = proveRequest();
    expect(parseRequest(roundTrip(req))).toEqual(req);
    const load = {
      type: "load" as const,
      id: 1,
      protocolVersion: IPC_PROTOCOL_VERSION,
      modelDir: "/m",
      checkpointWindow: 30,
      backend: "cpu",
      threads: 2,
      options: { attn: "sdpa" },
    };
    expect(parseRequest(roundTrip(load))).toEqual(load);
    for (const m of [
      { type: "reload" as const, id: 2, modelDir: "/n", checkpointWindow: 60 },
      { type: "health" as const, id: 3 },
      { type: "shutdown" as const, id: 4 },
    ]) {
      expect(parseRequest(roundTrip(m))).toEqual(m);
    }
    const proved: ProvedReply = {
      type: "proved",
      id: 7,
      checkpointWindow: 300,
      proveMs: 1.5,
      hashMs: 0.25,
      totalMs: 2,
      sVals: Uint32Array.from([1, 2147483646, 3]),
      logprobs: Float32Array.from([-0.5, Number.NEGATIVE_INFINITY]),
      eosProbs: Float64Array.from([0.01]),
      commitmentsHashes: new Uint8Array(32).fill(1),
      bindingHashes: new Uint8Array(32).fill(2),
    };
    expect(parseReply(roundTrip(proved))).toEqual(proved);
    for (const m of [
      {
        type: "hello" as const,
        protocolVersion: 1,
        engine: "torch" as const,
        pid: 5,
        runtime: "python 3.11",
      },
      { type: "bye" as const, id: 4 },
      { type: "error" as const, id: null, code: "malformed_frame" as const, message: "x" },
      {
        type: "status" as const,
        id: 3,
        state: "ready" as const,
        checkpointWindow: null,
        modelDir: null,
        busy: false,
        queued: 0,
        jobsDone: 0,
        uptimeMs: 1,
        rssBytes: 2,
      },
    ]) {
      expect(parseReply(roundTrip(m))).toEqual(m);
    }
  });

  const expectMessageError = (fn: () => unknown, code: string, text: RegExp, id: number | null) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MessageError);
    expect((err as MessageError).code).toBe(code);
    expect((err as MessageError).message).toMatch(text);
    expect((err as MessageError).requestId).toBe(id);
  };

  it("names what is wrong with an invalid request", () => {
    const parse = (header: Record<string, unknown>, payloads = {}) =>
      parseRequest(frames(new FrameDecoder().push(encodeFrame(header, payloads)))[0]!);
    expectMessageError(() => parse({ type: "dance", id: 3 }), "unknown_message", /dance/, 3);
    expectMessageError(() => parse({ id: 3 }), "unknown_message", /undefined/, 3);
    expectMessageError(() => parse({ type: "proved", id: 3 }), "unknown_message", /proved/, 3);
    expectMessageError(() => parse({ type: "health" }), "invalid_message", /id is missing/, null);
    expectMessageError(() => parse({ type: "health", id: -1 }), "invalid_message", /id must be/, null);
    expectMessageError(
      () => parse({ type: "reload", id: 1, modelDir: 5, checkpointWindow: 0 }),
      "invalid_message",
      /modelDir must be a string/,
      1,
    );
    expectMessageError(
      () =>
        parse({
          type: "load",
          id: 2,
          protocolVersion: 1,
          modelDir: "/m",
          checkpointWindow: 0,
          backend: "tpu",
        }),
      "invalid_message",
      /backend/,
      2,
    );
    const { type, id, tokens, lengths, promptLens, ...fields } = proveRequest();
    const header = { type, id, ...fields };
    expectMessageError(
      () => parse(header, { tokens, lengths }),
      "invalid_message",
      /promptLens is missing/,
      7,
    );
    expectMessageError(
      () => parse(header, { tokens: Float32Array.from(tokens), lengths, promptLens }),
      "invalid_message",
      /tokens must be int32, got float32/,
      7,
    );
    expectMessageError(
      () => parse({ ...header, groupSizes: [2, 2] }, { tokens, lengths, promptLens }),
      "invalid_message",
      /groupSizes add up to 4/,
      7,
    );
    expectMessageError(
      () => parse(header, { tokens: tokens.subarray(1), lengths, promptLens }),
      "invalid_message",
      /lengths add up to 9 tokens, tokens has 8/,
      7,
    );
    expectMessageError(
      () => parse(header, { tokens, lengths, promptLens: Int32Array.from([1, 5, 1]) }),
      "invalid_message",
      /rollout 1: promptLen 5/,
      7,
    );
    expectMessageError(
      () => parse({ ...header, randomnessHex: "zz" }, { tokens, lengths, promptLens }),
      "invalid_message",
      /hex/,
      7,
    );
  });

  it("checks replies: error codes, engines and array agreement", () => {
    const parse = (header: Record<string, unknown>, payloads = {}) =>
      parseReply(frames(new FrameDecoder().push(encodeFrame(header, payloads)))[0]!);
    expectMessageError(
      () => parse({ type: "error", id: 1, code: "oops", message: "m" }),
      "invalid_message",
      /oops/,
      1,
    );
    expectMessageError(
      () => parse({ type: "hello", protocolVersion: 1, engine: "jax", pid: 1, runtime: "" }),
      "invalid_message",
      /jax/,
      null,
    );
    expectMessageError(
      () =>
        parse(
          { type: "proved", id: 2, checkpointWindow: 0, proveMs: 0, hashMs: 0, totalMs: 0 },
          {
            sVals: new Uint32Array(1),
            logprobs: new Float32Array(0),
            eosProbs: new Float64Array(2),
            commitmentsHashes: new Uint8Array(64),
            bindingHashes: new Uint8Array(32),
          },
        ),
      "invalid_message",
      /bindingHashes has 32 bytes for 2 rollouts/,
      2,
    );
  });
});
