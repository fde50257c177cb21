import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { writeRandomModel } from "@grail/engine-native";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  BigramLogitsModel,
  NativeGenerationServer,
  type SamplingPolicy,
  SglangClient,
  writeBigramModelDir,
} from "../src/index.js";

let root: string;
let modelA: string;
let modelB: string;
let server: NativeGenerationServer | null = null;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "grail-native-"));
  modelA = await writeBigramModelDir(path.join(root, "checkpoint-1"), {
    vocabSize: 64,
    eosTokenId: 7,
    seed: 1,
    scale: 4,
    eosBias: 1,
  });
  modelB = await writeBigramModelDir(path.join(root, "checkpoint-2"), {
    vocabSize: 64,
    eosTokenId: 7,
    seed: 2,
    scale: 4,
    eosBias: 1,
  });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(async () => {
  await server?.close();
  server = null;
});

async function start(modelPath = modelA, contextLength = 256) {
  server = await NativeGenerationServer.start({ modelPath, contextLength, randomSeed: 3 });
  return server.url;
}

async function post(url: string, body: unknown) {
  const res = await fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field in each test
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

type Out = { output_ids: number[] };
const greedy = (max: number) => ({ max_new_tokens: max, temperature: 0 });

describe("native server: SGLang API", () => {
  it("answers a single prompt with an object and a batch with a list, in SGLang's shape", async () => {
    const url = await start();
    const single = await post(`${url}/generate`, { input_ids: [1, 2, 3], sampling_params: greedy(5) });
    expect(single.status).toBe(200);
    expect(Array.isArray(single.body)).toBe(false);
    expect(single.body.meta_info).toMatchObject({ prompt_tokens: 3 });
    const batch = await post(`${url}/generate`, { input_ids: [[1, 2, 3], [4]], sampling_params: greedy(5) });
    expect(batch.body).toHaveLength(2);
    expect(batch.body[0].output_ids).toEqual(single.body.output_ids);
    for (const out of batch.body) {
      const fr = out.meta_info.finish_reason;
      if (fr.type === "stop") expect(out.output_ids.at(-1)).toBe(7);
      else expect(fr).toEqual({ type: "length", length: 5 });
      expect(out.meta_info.completion_tokens).toBe(out.output_ids.length);
    }
  });

  it("follows the bigram table greedily and stops on EOS, keeping the stop token", async () => {
    const url = await start();
    const model = new BigramLogitsModel({
      format: "grail-bigram",
      vocabSize: 64,
      eosTokenId: 7,
      seed: 1,
      scale: 4,
      eosBias: 1,
    });
    const { body } = await post(`${url}/generate`, { input_ids: [[11]], sampling_params: greedy(40) });
    const expected: number[] = [];
    let last = 11;
    while (expected.length < 40) {
      const row = model.row(last);
      last = row.indexOf(Math.max(...row));
      expected.push(last);
      if (last === 7) break;
    }
    expect(body[0].output_ids).toEqual(expected);
  });

  it("samples reproducibly with sampling_seed and honours stop_token_ids", async () => {
    const url = await start();
    const params = { max_new_tokens: 30, temperature: 1, top_p: 0.95, top_k: 20, sampling_seed: 42 };
    const a = await post(`${url}/generate`, { input_ids: [5, 6], sampling_params: params });
    const b = await post(`${url}/generate`, { input_ids: [5, 6], sampling_params: params });
    expect(a.body.output_ids).toEqual(b.body.output_ids);
    const stopAt = a.body.output_ids[2];
    const c = await post(`${url}/generate`, {
      input_ids: [5, 6],
      sampling_params: { ...params, stop_token_ids: [stopAt] },
    });
    expect(c.body.output_ids.at(-1)).toBe(stopAt);
    expect(c.body.output_ids.length).toBeLessThanOrEqual(3);
  });

  it("rejects requests SGLang would reject, with its error body", async () => {
    const url = await start(modelA, 16);
    const tooLong = await post(`${url}/generate`, { input_ids: [1, 2, 3], sampling_params: greedy(14) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toMatch(/maximum context length of 16/);
    const unknown = await post(`${url}/generate`, { input_ids: [1], sampling_params: { max_tokens: 3 } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/max_tokens/);
    const text = await post(`${url}/generate`, { text: "hello", sampling_params: greedy(1) });
    expect(text.status).toBe(400);
    const vocab = await post(`${url}/generate`, { input_ids: [64], sampling_params: greedy(1) });
    expect(vocab.status).toBe(400);
  });

  it("swaps weights with update_weights_from_disk and keeps the old ones when loading fails", async () => {
    const url = await start();
    const run = async () =>
      (await post(`${url}/generate`, { input_ids: [[3], [9], [21]], sampling_params: greedy(8) })).body.map(
        (o: { output_ids: number[] }) => o.output_ids,
      );
    const before = await run();
    const ok = await post(`${url}/update_weights_from_disk`, {
      model_path: modelB,
      weight_version: "checkpoint-2",
    });
    expect(ok).toMatchObject({ status: 200, body: { success: true } });
    const after = await run();
    expect(after).not.toEqual(before);
    const info = await (await fetch(`${url}/get_model_info`)).json();
    expect(info).toMatchObject({ model_path: modelB, weight_version: "checkpoint-2" });
    const bad = await post(`${url}/update_weights_from_disk`, { model_path: path.join(root, "missing") });
    expect(bad).toMatchObject({ status: 400, body: { success: false } });
    expect(await run()).toEqual(after);
  });

  it("serves the SGLang client end to end", async () => {
    const url = await start();
    const client = new SglangClient({
      baseUrl: url,
      maxModelLen: 256,
      promptsPerRequest: 32,
      maxConcurrentRequests: 2,
    });
    const policy: SamplingPolicy = {
      maxNewTokens: 12,
      temperature: 0.8,
      topP: 0.9,
      topK: 10,
      repetitionPenalty: 1.2,
    };
    const prompts = Array.from({ length: 48 }, (_, i) => [i % 60, (i * 7) % 60]);
    const results = await client.generate(prompts, policy);
    expect(results).toHaveLength(48);
    for (const r of results) {
      expect(r.status).toBe("generated");
      expect(r.outputIds.length).toBeGreaterThan(0);
      expect(r.outputIds.length).toBeLessThanOrEqual(12);
      if (r.outputIds.length < 12) expect(r.outputIds.at(-1)).toBe(7);
    }
  });
});

describe("native server: vLLM endpoints", () => {
  it("answers /v1/completions with token ids and runs the sleep/wake/reload cycle", async () => {
    const url = await start();
    const body = {
      model: "checkpoint-1",
      prompt: [1, 2],
      max_tokens: 6,
      temperature: 0,
      return_token_ids: true,
    };
    const first = await post(`${url}/v1/completions`, body);
    expect(first.status).toBe(200);
    expect(first.body.choices[0]).toMatchObject({
      index: 0,
      finish_reason: expect.stringMatching(/stop|length/),
    });
    expect(first.body.choices[0].token_ids.length).toBeGreaterThan(0);
    expect((await post(`${url}/v1/completions`, { ...body, model: "other" })).status).toBe(404);
    expect((await post(`${url}/sleep?level=2`, {})).status).toBe(200);
    expect(await (await fetch(`${url}/is_sleeping`)).json()).toEqual({ is_sleeping: true });
    expect((await post(`${url}/v1/completions`, body)).status).toBe(503);
    expect((await post(`${url}/wake_up`, {})).status).toBe(200);
    expect((await post(`${url}/v1/completions`, body)).status).toBe(503);
    expect((await post(`${url}/collective_rpc`, { method: "reload_weights" })).status).toBe(200);
    const again = await post(`${url}/v1/completions`, body);
    expect(again.body.choices[0].token_ids).toEqual(first.body.choices[0].token_ids);
  });
});

describe("native server over @grail/engine-native", () => {
  it("generates with a real transformer checkpoint on the CPU backend", async () => {
    const dir = path.join(root, "qwen3-tiny");
    writeRandomModel(dir, {
      modelType: "qwen3",
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 128,
      vocabSize: 96,
      seed: 5,
      eosTokenId: 3,
    });
    const url = await start(dir, 128);
    const run = () =>
      post(`${url}/generate`, { input_ids: [[10, 11, 12], [40]], sampling_params: greedy(6) });
    const a = await run();
    expect(a.status).toBe(200);
    expect(a.body).toHaveLength(2);
    for (const out of a.body) {
      expect(out.output_ids.every((t: number) => t >= 0 && t < 96)).toBe(true);
      expect(out.output_ids.length).toBeGreaterThan(0);
    }
    expect((await run()).body.map((o: Out) => o.output_ids)).toEqual(a.body.map((o: Out) => o.output_ids));
  });
});
