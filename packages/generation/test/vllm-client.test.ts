import { afterEach, describe, expect, it } from "vitest";
import { parseVllmCompletions, ResponseShapeError, type SamplingPolicy, VllmClient } from "../src/index.js";
import { type Handler, ScriptedServer } from "./helpers/scripted-server.js";

const policy: SamplingPolicy = {
  maxNewTokens: 32,
  temperature: 0.7,
  topP: 0.9,
  topK: 0,
  repetitionPenalty: 1,
};

let server: ScriptedServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function clientFor(handler: Handler, promptsPerRequest = 1) {
  server = new ScriptedServer(handler);
  const baseUrl = await server.start();
  return new VllmClient({
    baseUrl,
    model: "vllm_active",
    maxModelLen: 1024,
    promptsPerRequest,
    maxConcurrentRequests: 4,
    retry: { attempts: 2, backoffMs: [1] },
  });
}

const completionFor = (prompt: number[], index = 0) => ({
  index,
  text: "",
  token_ids: [prompt.length, 151645],
  finish_reason: "stop",
  stop_reason: null,
});

describe("VllmClient", () => {
  it("sends one token-id prompt per request in strict mode with the documented extras", async () => {
    const client = await clientFor((req) => {
      const body = req.body as { prompt: number[] };
      return { body: { choices: [completionFor(body.prompt)] } };
    });
    const results = await client.generate(
      [
        [1, 2, 3],
        [4, 5],
      ],
      policy,
    );
    expect(results.map((r) => r.outputIds)).toEqual([
      [3, 151645],
      [2, 151645],
    ]);
    expect(server!.requests).toHaveLength(2);
    const body = server!.requests.find((r) => (r.body as { prompt: number[] }).prompt.length === 3)!.body;
    expect(body).toEqual({
      model: "vllm_active",
      prompt: [1, 2, 3],
      max_tokens: 32,
      temperature: 0.7,
      top_p: 0.9,
      n: 1,
      repetition_penalty: 1,
      return_token_ids: true,
      skip_special_tokens: false,
      spaces_between_special_tokens: false,
      include_stop_str_in_output: true,
    });
  });

  it("maps batched choices by index", async () => {
    const client = await clientFor((req) => {
      const prompts = (req.body as { prompt: number[][] }).prompt;
      return { body: { choices: prompts.map((p, i) => completionFor(p, i)).reverse() } };
    }, 3);
    const results = await client.generate([[1], [1, 2], [1, 2, 3]], policy);
    expect(results.map((r) => r.outputIds[0])).toEqual([1, 2, 3]);
    expect(server!.requests).toHaveLength(1);
  });

  it("accepts integer-like logprobs.tokens when token_ids is absent", () => {
    const [out] = parseVllmCompletions(
      { choices: [{ index: 0, logprobs: { tokens: ["token_id:5", 6, "7"] }, finish_reason: "length" }] },
      1,
    );
    expect(out).toEqual({ outputIds: [5, 6, 7], finishReason: "length", matchedStop: null });
  });

  it("raises ResponseShapeError when no token ids come back", async () => {
    const client = await clientFor(() => ({ body: { choices: [{ index: 0, text: "hello" }] } }));
    await expect(client.generate([[1]], policy)).rejects.toBeInstanceOf(ResponseShapeError);
    expect(() => parseVllmCompletions({ choices: [] }, 1)).toThrow(/no choice for prompt 0/);
    expect(() => parseVllmCompletions({ choices: [{ index: 4, token_ids: [1] }] }, 1)).toThrow(/outside/);
  });
});
