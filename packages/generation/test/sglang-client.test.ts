import { afterEach, describe, expect, it } from "vitest";
import {
  GenerationRequestError,
  ResponseShapeError,
  type SamplingPolicy,
  SglangClient,
  type SglangClientOptions,
} from "../src/index.js";
import { type Handler, ScriptedServer, sglangOutputFor } from "./helpers/scripted-server.js";

const policy: SamplingPolicy = {
  maxNewTokens: 64,
  temperature: 0.7,
  topP: 0.9,
  topK: 50,
  repetitionPenalty: 1.1,
};
const fastRetry = { attempts: 3, backoffMs: [1, 1] };

function batchAnswer(): Handler {
  return (req) => {
    const ids = (req.body as { input_ids: number[][] }).input_ids;
    return { body: ids.map((p) => sglangOutputFor(p)) };
  };
}

let server: ScriptedServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function clientFor(handler: Handler, options: Partial<SglangClientOptions> = {}) {
  server = new ScriptedServer(handler);
  const baseUrl = await server.start();
  return new SglangClient({
    baseUrl,
    maxModelLen: 4096,
    promptsPerRequest: 16,
    maxConcurrentRequests: 4,
    retry: fastRetry,
    ...options,
  });
}

const prompts = (n: number, len = 5) =>
  Array.from({ length: n }, (_, i) => Array.from({ length: len }, (_, k) => i * 10 + k));

describe("SglangClient batching", () => {
  it("sends GROUPS_PER_BATCH×16 prompts per /generate call in the documented batch form and keeps order", async () => {
    const client = await clientFor(batchAnswer(), { promptsPerRequest: 32 });
    const input = prompts(80);
    const results = await client.generate(input, policy);
    const calls = server!.requests;
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(Array(3).fill("POST /generate"));
    expect(calls.map((c) => (c.body as { input_ids: number[][] }).input_ids.length).sort()).toEqual([
      16, 32, 32,
    ]);
    const sent = calls.flatMap((c) => (c.body as { input_ids: number[][] }).input_ids);
    expect(new Set(sent.map((p) => p[0]))).toEqual(new Set(input.map((p) => p[0])));
    results.forEach((r, i) => {
      expect(r.status).toBe("generated");
      expect(r.promptIds).toBe(input[i]);
      expect(r.outputIds).toEqual([input[i]![0], 5, 9]);
      expect(r.finishReason).toBe("stop");
      expect(r.matchedStop).toBe(9);
    });
  });

  it("maps the sampling policy onto sampling_params (top_k 0 and null penalty omitted, cap applied)", async () => {
    const client = await clientFor(batchAnswer(), { maxModelLen: 12288 });
    await client.generate(prompts(1), policy);
    await client.generate(prompts(1), { ...policy, maxNewTokens: 20_000, topK: 0, repetitionPenalty: null });
    const [a, b] = server!.requests.map((r) => r.body as Record<string, unknown>);
    expect(a).toEqual({
      input_ids: [prompts(1)[0]],
      sampling_params: {
        max_new_tokens: 64,
        temperature: 0.7,
        top_p: 0.9,
        top_k: 50,
        repetition_penalty: 1.1,
      },
    });
    expect(b!.sampling_params).toEqual({ max_new_tokens: 8192, temperature: 0.7, top_p: 0.9 });
  });

  it("bounds the number of requests in flight", async () => {
    let waiting: (() => void)[] = [];
    const client = await clientFor(
      async (req) => {
        // Hold each request until a second one arrives: with a bound of 2 they pair up exactly.
        await new Promise<void>((resolve) => {
          waiting.push(resolve);
          if (waiting.length === 2) {
            for (const w of waiting) w();
            waiting = [];
          }
        });
        return batchAnswer()(req, 0);
      },
      { promptsPerRequest: 4, maxConcurrentRequests: 2 },
    );
    const results = await client.generate(prompts(24), policy);
    expect(results).toHaveLength(24);
    expect(server!.requests).toHaveLength(6);
    expect(server!.maxInFlight).toBe(2);
  });

  it("skips prompts whose prompt + max_new_tokens exceeds the context, all or nothing", async () => {
    const client = await clientFor(batchAnswer(), { maxModelLen: 12288 });
    const fits = Array.from({ length: 10240 }, () => 1);
    const tooLong = Array.from({ length: 10241 }, () => 2);
    const results = await client.generate([fits, tooLong], { ...policy, maxNewTokens: 2048 });
    expect(results[0]!.status).toBe("generated");
    expect(results[1]).toMatchObject({ status: "skipped_context", outputIds: [], finishReason: null });
    const sent = server!.requests.flatMap((r) => (r.body as { input_ids: number[][] }).input_ids);
    expect(sent.map((p) => p.length)).toEqual([10240]);
  });

  it("sends nothing when every prompt is skipped", async () => {
    const client = await clientFor(batchAnswer(), { maxModelLen: 10 });
    const results = await client.generate(prompts(3, 8), { ...policy, maxNewTokens: 5 });
    expect(results.every((r) => r.status === "skipped_context")).toBe(true);
    expect(server!.requests).toHaveLength(0);
  });
});

describe("SglangClient retries", () => {
  it("retries 5xx answers and succeeds", async () => {
    const client = await clientFor((req, i) =>
      i < 2 ? { status: 503, body: { error: "busy" } } : batchAnswer()(req, i),
    );
    const results = await client.generate(prompts(2), policy);
    expect(results.map((r) => r.status)).toEqual(["generated", "generated"]);
    expect(server!.requests).toHaveLength(3);
  });

  it("retries an output the server aborted", async () => {
    const client = await clientFor((req, i) => {
      if (i === 0) {
        return {
          body: [{ output_ids: [], meta_info: { finish_reason: { type: "abort", message: "oom" } } }],
        };
      }
      return batchAnswer()(req, i);
    });
    const [r] = await client.generate(prompts(1), policy);
    expect(r!.outputIds).toHaveLength(3);
    expect(server!.requests).toHaveLength(2);
  });

  it("gives up after the attempts with a typed error carrying the status", async () => {
    const client = await clientFor(() => ({ status: 500, body: { error: "boom" } }));
    const error = await client.generate(prompts(2), policy).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenerationRequestError);
    expect((error as GenerationRequestError).context).toMatchObject({ status: 500, prompts: 2, attempts: 3 });
    expect(server!.requests).toHaveLength(3);
  });

  it("does not retry a 400 (the request itself is wrong)", async () => {
    const client = await clientFor(() => ({ status: 400, body: { error: { message: "context too long" } } }));
    await expect(client.generate(prompts(1), policy)).rejects.toThrow(/HTTP 400/);
    expect(server!.requests).toHaveLength(1);
  });

  it("reports a connection failure after retrying", async () => {
    const client = await clientFor(batchAnswer());
    await server!.close();
    await expect(client.generate(prompts(1), policy)).rejects.toBeInstanceOf(GenerationRequestError);
  });
});

describe("SglangClient malformed replies", () => {
  const cases: [string, Handler][] = [
    ["an object instead of the batch list", () => ({ body: sglangOutputFor([1]) })],
    ["fewer outputs than prompts", () => ({ body: [sglangOutputFor([1])] })],
    ["output_ids missing", () => ({ body: [{ text: "hi" }, { text: "ho" }] })],
    ["output_ids of strings", () => ({ body: [{ output_ids: ["1"] }, { output_ids: ["2"] }] })],
    ["negative ids", () => ({ body: [{ output_ids: [-1] }, { output_ids: [1] }] })],
    [
      "an unknown finish reason",
      () => ({ body: [0, 1].map(() => ({ output_ids: [1], meta_info: { finish_reason: "stop" } })) }),
    ],
    ["a non-JSON body", () => ({ raw: "<html>502</html>" })],
  ];
  it.each(cases)("raises ResponseShapeError for %s without retrying", async (_name, handler) => {
    const client = await clientFor(handler);
    const error = await client.generate(prompts(2), policy).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseShapeError);
    expect(server!.requests).toHaveLength(1);
  });
});
