import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import {
  encodeFrame,
  encodeMessage,
  FrameDecoder,
  IPC_PROTOCOL_VERSION,
  type ProveRequest,
  parseRequest,
} from "@grail/ipc";
import { bytesToHex, commitBinding, generateRVec, LAYER_INDEX } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import { flatBatch, tokenSeq, torchWorker } from "./helpers.js";
import { isAlive, RawWorker } from "./raw-worker.js";

const pythonDir = dirname(torchWorker);
const hasPython = spawnSync("python3", ["--version"]).status === 0;
const hasTorch = hasPython && spawnSync("python3", ["-c", "import torch, transformers"]).status === 0;

/** Runs python3 with grail_ipc importable; stdin/stdout as given. */
function py(code: string, input?: Buffer | string) {
  const r = spawnSync(
    "python3",
    ["-c", `import sys; sys.path.insert(0, ${JSON.stringify(pythonDir)})\n${code}`],
    {
      input,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr.toString()}`);
  return r.stdout;
}

describe.skipIf(!hasPython)("Python side of the protocol (grail_ipc.py, torch_worker.py)", () => {
  it("decodes the frames Node writes and writes frames Node decodes, payloads included", () => {
    const b = flatBatch(7, 3);
    const req: ProveRequest = {
      type: "prove",
      id: 42,
      checkpointWindow: 120,
      randomnessHex: "0f".repeat(32),
      modelName: "Qwen/Qwen2.5-1.5B-Instruct",
      layerIndex: LAYER_INDEX,
      groupSizes: [4, 3],
      tokens: b.tokens,
      lengths: b.lengths,
      promptLens: b.promptLens,
    };
    // Python parses the request, then re-encodes it: bytes must round-trip through both codecs.
    const out = py(
      `import grail_ipc as g
data = sys.stdin.buffer.read()
items = g.FrameDecoder().push(data)
assert len(items) == 1 and items[0][0] == "frame", items
msg = g.parse_request(items[0][1], items[0][2])
sys.stdout.buffer.write(g.encode_message(msg))`,
      encodeMessage(req),
    );
    expect((8 + out.readUInt32LE(4)) % 8).toBe(0);
    const [r] = new FrameDecoder().push(out);
    if (!r?.ok) throw new Error("python frame did not decode");
    expect(parseRequest(r.frame)).toEqual(req);

    // Python's decoder reports malformed frames and keeps going, like Node's.
    const bad = Buffer.concat([
      encodeFrame({ type: "health", id: 1 }),
      Buffer.from([6, 0, 0, 0, 2, 0, 0, 0, 0x7b, 0x78]),
      encodeFrame({ type: "dance", id: 2 }),
      encodeFrame({ type: "health", id: 3 }, { x: new Float64Array(3) }),
    ]);
    const kinds = py(
      `import grail_ipc as g, json
res = []
for item in g.FrameDecoder().push(sys.stdin.buffer.read()):
    if item[0] == "error":
        res.append(item[1].code)
        continue
    try:
        res.append(g.parse_request(item[1], item[2])["type"])
    except g.MessageError as e:
        res.append(e.code)
print(json.dumps(res))`,
      bad,
    );
    expect(JSON.parse(kinds.toString())).toEqual(["health", "invalid_header", "unknown_message", "health"]);

    // A prefix longer than the header describes is refused at once; the next frame still decodes.
    const lying = encodeFrame({ type: "health", id: 4 });
    lying.writeUInt32LE(lying.readUInt32LE(0) + 4096, 0);
    const resynced = py(
      `import grail_ipc as g, json
res = []
for item in g.FrameDecoder().push(sys.stdin.buffer.read()):
    res.append([item[1].code, item[1].request_id] if item[0] == "error" else item[1]["id"])
print(json.dumps(res))`,
      Buffer.concat([lying, encodeFrame({ type: "health", id: 5 })]),
    );
    expect(JSON.parse(resynced.toString())).toEqual([["malformed_frame", 4], 5]);
  });

  it("computes r_vec, commitments hash and commit binding byte for byte like @grail/protocol", () => {
    const cases = Array.from({ length: 6 }, (_, i) => ({
      tokens: tokenSeq(5 + i * 13, 151_000, i + 1),
      randomness: i % 2 ? `0x${"ab".repeat(16 + i)}` : "abc".repeat(i + 1),
      model: ["", "Qwen/Qwen3-4B", "名前"][i % 3]!,
      sketches: tokenSeq(5 + i * 13, 2_147_483_647, 99 + i),
    }));
    const out = py(
      `import grail_ipc as g, json
res = []
for c in json.loads(sys.stdin.read()):
    res.append({"rvec": g.r_vec(c["randomness"]),
                "binding": g.commit_binding(c["tokens"], c["randomness"], c["model"], -1, c["sketches"]).hex()})
print(json.dumps(res))`,
      JSON.stringify(cases),
    );
    const got = JSON.parse(out.toString()) as { rvec: number[]; binding: string }[];
    got.forEach((g, i) => {
      const c = cases[i]!;
      expect(g.rvec).toEqual(Array.from(generateRVec(c.randomness)));
      const expected = commitBinding({
        tokens: c.tokens,
        randomnessHex: c.randomness,
        modelName: c.model,
        layerIndex: -1,
        sketches: c.sketches,
      });
      expect(g.binding).toBe(bytesToHex(expected));
    });
  });

  it("the torch worker speaks the protocol: hello, errors for bad frames, health, load, shutdown", async () => {
    const w = new RawWorker("python3", [torchWorker]);
    const hello = await w.next();
    expect(hello).toMatchObject({
      type: "hello",
      protocolVersion: IPC_PROTOCOL_VERSION,
      engine: "torch",
      pid: w.child.pid,
    });
    w.write(Buffer.from([6, 0, 0, 0, 2, 0, 0, 0, 0x7b, 0x78]));
    expect(await w.next()).toMatchObject({ type: "error", id: null, code: "invalid_header" });
    w.write(encodeFrame({ type: "dance", id: 5 }));
    expect(await w.next()).toMatchObject({ type: "error", id: 5, code: "unknown_message" });
    const b = flatBatch(2, 1);
    w.send({
      type: "prove",
      id: 6,
      checkpointWindow: 0,
      randomnessHex: "ab",
      modelName: "",
      layerIndex: -1,
      groupSizes: [3],
      tokens: b.tokens,
      lengths: b.lengths,
      promptLens: b.promptLens,
    });
    expect(await w.next()).toMatchObject({ type: "error", id: 6, code: "invalid_message" });
    w.send({
      type: "prove",
      id: 7,
      checkpointWindow: 0,
      randomnessHex: "ab",
      modelName: "",
      layerIndex: -1,
      groupSizes: [2],
      tokens: b.tokens,
      lengths: b.lengths,
      promptLens: b.promptLens,
    });
    expect(await w.next()).toMatchObject({ type: "error", id: 7, code: "not_loaded" });
    w.send({ type: "health", id: 8 });
    expect(await w.next()).toMatchObject({
      type: "status",
      id: 8,
      state: "empty",
      busy: false,
      checkpointWindow: null,
    });
    w.send({
      type: "load",
      id: 9,
      protocolVersion: IPC_PROTOCOL_VERSION + 1,
      modelDir: "/m",
      checkpointWindow: 0,
    });
    expect(await w.next()).toMatchObject({ type: "error", id: 9, code: "unsupported_version" });
    if (!hasTorch) {
      w.send({
        type: "load",
        id: 10,
        protocolVersion: IPC_PROTOCOL_VERSION,
        modelDir: "/m",
        checkpointWindow: 0,
      });
      expect(await w.next()).toMatchObject({
        type: "error",
        id: 10,
        code: "load_failed",
        details: { engineCode: "torch_missing" },
      });
    }
    expect(isAlive(w.child.pid!)).toBe(true);
    w.send({ type: "shutdown", id: 11 });
    expect(await w.next()).toEqual({ type: "bye", id: 11 });
    expect(await w.exit).toEqual({ code: 0, signal: null });

    const eof = new RawWorker("python3", [torchWorker]);
    await eof.next();
    eof.endInput();
    expect(await eof.exit).toEqual({ code: 0, signal: null });
  });
});
