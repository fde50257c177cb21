import { encodeFrame, IPC_PROTOCOL_VERSION } from "@grail/ipc";
import { LAYER_INDEX } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import { flatBatch, tinyModel, workerMain } from "./helpers.js";
import { isAlive, RawWorker } from "./raw-worker.js";

function rawFrame(header: Buffer, payload = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(8 + header.length + payload.length);
  out.writeUInt32LE(4 + header.length + payload.length, 0);
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  payload.copy(out, 8 + header.length);
  return out;
}

function start(env: NodeJS.ProcessEnv = {}): RawWorker {
  return new RawWorker(process.execPath, [workerMain], env);
}

describe("worker process (real child, fds 3/4)", () => {
  it("answers malformed frames and unknown messages with errors, and keeps proving", async () => {
    const w = start({ GRAIL_WORKER_MAX_FRAME_BYTES: "4096" });
    const hello = await w.next();
    expect(hello).toMatchObject({
      type: "hello",
      protocolVersion: IPC_PROTOCOL_VERSION,
      engine: "native",
      pid: w.child.pid,
    });

    w.write(rawFrame(Buffer.from("{this is not json")));
    expect(await w.next()).toMatchObject({ type: "error", id: null, code: "invalid_header" });
    const pastEnd = rawFrame(Buffer.from('{"type":"health","id":1}'));
    pastEnd.writeUInt32LE(9999, 4);
    w.write(pastEnd);
    expect(await w.next()).toMatchObject({ type: "error", id: null, code: "malformed_frame" });
    w.write(encodeFrame({ type: "dance", id: 5 }));
    expect(await w.next()).toMatchObject({ type: "error", id: 5, code: "unknown_message" });
    w.write(
      encodeFrame({
        type: "prove",
        id: 6,
        checkpointWindow: 0,
        randomnessHex: "ab",
        modelName: "",
        layerIndex: -1,
        groupSizes: [1],
      }),
    );
    expect(await w.next()).toMatchObject({ type: "error", id: 6, code: "invalid_message" });
    w.write(
      rawFrame(
        Buffer.from(
          JSON.stringify({
            type: "health",
            id: 7,
            payloads: [{ name: "x", dtype: "int32", byteOffset: 0, length: 100 }],
          }),
        ),
        Buffer.alloc(16),
      ),
    );
    expect(await w.next()).toMatchObject({ type: "error", id: 7, code: "malformed_frame" });
    w.write(encodeFrame({ type: "health", id: 8 }, { pad: new Uint8Array(5000) }));
    expect(await w.next()).toMatchObject({ type: "error", id: null, code: "frame_too_large" });
    w.write(Buffer.from([1, 0, 0, 0, 0]));
    expect(await w.next()).toMatchObject({ type: "error", code: "malformed_frame" });
    w.send({
      type: "prove",
      id: 9,
      checkpointWindow: 0,
      randomnessHex: "ab",
      modelName: "",
      layerIndex: -1,
      groupSizes: [1],
      ...(() => {
        const b = flatBatch(1, 1);
        return { tokens: b.tokens, lengths: b.lengths, promptLens: b.promptLens };
      })(),
    });
    expect(await w.next()).toMatchObject({ type: "error", id: 9, code: "not_loaded" });

    // Still alive and serving.
    expect(isAlive(w.child.pid!)).toBe(true);
    w.send({ type: "health", id: 10 });
    expect(await w.next()).toMatchObject({ type: "status", id: 10, state: "empty" });
    const dir = tinyModel();
    w.send({
      type: "load",
      id: 11,
      protocolVersion: IPC_PROTOCOL_VERSION,
      modelDir: dir,
      checkpointWindow: 30,
      backend: "cpu",
      threads: 1,
    });
    expect(await w.next()).toMatchObject({ type: "loaded", id: 11, checkpointWindow: 30 });
    const b = flatBatch(5, 2);
    w.send({
      type: "prove",
      id: 12,
      checkpointWindow: 30,
      randomnessHex: "cd".repeat(32),
      modelName: "m",
      layerIndex: LAYER_INDEX,
      groupSizes: [5],
      tokens: b.tokens,
      lengths: b.lengths,
      promptLens: b.promptLens,
    });
    const proved = await w.next();
    expect(proved).toMatchObject({ type: "proved", id: 12, checkpointWindow: 30 });
    if (proved.type === "proved") expect(proved.sVals.length).toBe(b.tokens.length);

    w.send({ type: "shutdown", id: 13 });
    expect(await w.next()).toEqual({ type: "bye", id: 13 });
    expect(await w.exit).toEqual({ code: 0, signal: null });
    expect(isAlive(w.child.pid!)).toBe(false);
  });

  it("answers a request with a too-long length prefix at once and serves the next one", async () => {
    const w = start();
    await w.next();
    const lying = encodeFrame({ type: "health", id: 1 });
    lying.writeUInt32LE(lying.readUInt32LE(0) + 4096, 0);
    w.write(lying);
    w.send({ type: "health", id: 2 });
    expect(await w.next()).toMatchObject({ type: "error", id: 1, code: "malformed_frame" });
    expect(await w.next()).toMatchObject({ type: "status", id: 2 });
    w.endInput();
    expect(await w.exit).toEqual({ code: 0, signal: null });
  });

  it("exits when the parent closes its request pipe (no orphan when the coordinator dies)", async () => {
    const w = start();
    await w.next();
    w.endInput();
    expect(await w.exit).toEqual({ code: 0, signal: null });
  });

  it("ignores SIGINT from the terminal's process group and stops on SIGTERM", async () => {
    const w = start();
    await w.next();
    w.child.kill("SIGINT");
    w.send({ type: "health", id: 1 });
    expect(await w.next()).toMatchObject({ type: "status", id: 1 });
    w.child.kill("SIGTERM");
    expect((await w.exit).signal).toBe("SIGTERM");
  });

  it("refuses IPC mode without its pipes", async () => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(process.execPath, [workerMain], {
      env: { ...process.env, GRAIL_WORKER_IPC: "1" },
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/started by the proof pool/);
  });
});
