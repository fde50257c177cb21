import { resolve } from "node:path";
import { deriveEnvSeed, PyRandom } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import {
  buildPrompt,
  CacheDirectorySource,
  createEnvironment,
  DatasetStore,
  gsm8kValIndices,
  InvalidSplitError,
  mathValIndices,
  mbppRedistribution,
  mbppSignature,
  moduloIndex,
  parseMathLevel,
  renderInstructedChatml,
  resolveEnvSplit,
  shuffledRange,
  THINKING_CONFIGS,
  UnknownEnvironmentError,
  uniformIndex,
} from "../src/index.js";

const FIXTURES = resolve(import.meta.dirname, "fixtures");
const HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const WINDOW = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

function fixtureStore(): DatasetStore {
  return new DatasetStore(new CacheDirectorySource(FIXTURES, { requireCatalogCounts: false }), {
    gsm8kValSize: 1,
    mathValSize: 1,
    mbppTestToTrainFraction: 0.8,
  });
}

describe("Python random(42) shuffle (spec §2.0)", () => {
  it("matches CPython's first draws and small permutations", () => {
    const r = PyRandom.fromInt(42);
    expect([r.getrandbits(32), r.getrandbits(32), r.getrandbits(32)]).toEqual([
      2746317213, 478163327, 107420369,
    ]);
    expect(shuffledRange(3)).toEqual([1, 0, 2]);
    expect(shuffledRange(4)).toEqual([2, 1, 3, 0]);
    expect(shuffledRange(5)).toEqual([3, 1, 2, 4, 0]);
    expect(shuffledRange(6)).toEqual([3, 1, 2, 4, 0, 5]);
  });
});

describe("split derivation at production sizes (spec §2, index vectors)", () => {
  it("GSM8K: 250 val rows out of 7473, first shuffled index 1458", () => {
    expect(shuffledRange(7473)[0]).toBe(1458);
    const val = [...gsm8kValIndices(7473, 250)].sort((a, b) => a - b);
    expect(val).toHaveLength(250);
    expect(val.slice(0, 10)).toEqual([27, 35, 37, 41, 85, 176, 224, 228, 234, 278]);
    // train[0..9] are HF rows 0..9: none of them is held out.
    expect(val.filter((i) => i < 10)).toEqual([]);
  });
  it("MATH: stratified 116/51/58/86/58/80/51 with one shared generator", () => {
    const held = mathValIndices([1744, 771, 870, 1295, 869, 1205, 746], 500);
    expect(held.map((s) => s.size)).toEqual([116, 51, 58, 86, 58, 80, 51]);
    const heads = held.map((s) => [...s].sort((a, b) => a - b).slice(0, 5));
    expect(heads).toEqual([
      [18, 34, 45, 53, 60],
      [0, 3, 8, 25, 51],
      [1, 7, 10, 19, 99],
      [7, 37, 42, 52, 58],
      [24, 39, 62, 79, 87],
      [14, 16, 18, 89, 94],
      [16, 17, 41, 53, 83],
    ]);
  });
  it("MBPP: 400 test rows to train and 100 to validation, in shuffled order", () => {
    const { toTrain, toValidation } = mbppRedistribution(500, 0.8);
    expect(toTrain).toHaveLength(400);
    expect(toValidation).toHaveLength(100);
    expect(toTrain.slice(0, 10)).toEqual([164, 383, 45, 156, 53, 72, 315, 209, 74, 333]);
    expect(toValidation.slice(0, 10)).toEqual([36, 331, 349, 470, 136, 343, 107, 181, 189, 83]);
  });
});

describe("seed → problem index (spec §1.2 table)", () => {
  const rows: [number, number, number[]][] = [
    [0, 4270286243, [7181, 1311, 6959, 533, 143, 123]],
    [1, 3550075222, [5970, 1090, 5785, 382, 82, 22]],
    [2, 231109013, [388, 70, 376, 353, 43, 49]],
    [7, 3644707043, [6129, 1119, 5940, 641, 123, 71]],
  ];
  it.each(rows)("problem %i", (group, seed, [gTrain, gTest, mTrain, mbTrain, mbVal, he]) => {
    expect(deriveEnvSeed(HOTKEY, WINDOW, group)).toBe(seed);
    expect(uniformIndex(seed, 7223)).toBe(gTrain);
    expect(uniformIndex(seed, 1319)).toBe(gTest);
    expect(uniformIndex(seed, 7000)).toBe(mTrain);
    expect(moduloIndex(seed, 774)).toBe(mbTrain);
    expect(moduloIndex(seed, 190)).toBe(mbVal);
    expect(moduloIndex(seed, 164)).toBe(he);
  });
  it("reduces seeds modulo 2^32 like Python", () => {
    expect(uniformIndex(2 ** 32 + 5, 10)).toBe(uniformIndex(5, 10));
    expect(moduloIndex(-1, 7)).toBe(6);
  });
});

describe("environment ids and splits (spec §1.4)", () => {
  it("maps params to splits per env", () => {
    expect(resolveEnvSplit("gsm8k", {})).toEqual({ env: "gsm8k", split: "train" });
    expect(resolveEnvSplit("math", { split: "val", gpu_eval: false })).toEqual({ env: "math", split: "val" });
    expect(resolveEnvSplit("python_code", { split: "val" })).toEqual({ env: "mbpp", split: "validation" });
    expect(resolveEnvSplit("humaneval", { split: "train" })).toEqual({ env: "humaneval", split: "test" });
  });
  it("rejects what the reference rejects", () => {
    expect(() => resolveEnvSplit("gsm8k", { split: "validation" })).toThrow(InvalidSplitError);
    expect(() => resolveEnvSplit("mbpp", { split: "test" })).toThrow(InvalidSplitError);
    expect(() => resolveEnvSplit("sat", {})).toThrow(UnknownEnvironmentError);
  });
});

describe("problems and prompts from the fixtures (spec §9.3, §3)", () => {
  it("derives MBPP splits: train [9001, 9002, 9005, 9004], validation [9003, 9006]", async () => {
    const store = fixtureStore();
    expect((await store.mbpp("train")).map((r) => r.task_id)).toEqual([9001, 9002, 9005, 9004]);
    expect((await store.mbpp("validation")).map((r) => r.task_id)).toEqual([9003, 9006]);
  });
  it("seed 4270286243 picks MBPP train index 3 (9004) with the stub `def circle_area(r):`", async () => {
    const env = createEnvironment("mbpp", { split: "train" }, { datasets: fixtureStore() });
    const p = await env.problemFromSeed(4270286243);
    expect(p.env === "mbpp" && p.datasetTaskId).toBe(9004);
    expect(p.taskId).toBe("train_3");
    expect(p.question).toBe(
      "Write a function to compute the area of a circle given its radius.\n\ndef circle_area(r):\n    pass",
    );
  });
  it("renders row 9001's instructed prompt byte for byte", async () => {
    const env = createEnvironment("mbpp", { split: "train" }, { datasets: fixtureStore() });
    const p = await env.problemFromSeed(0);
    const spec = env.prompt(p, "instructed");
    expect(spec.chatTemplate).toBe("protocol-chatml");
    expect(spec.enableThinking).toBeUndefined();
    expect(renderInstructedChatml(spec.messages)).toBe(
      "<|im_start|>system\nYou are given a problem. Think step by step.\n" +
        "Place your reasoning between <start_working_out> and </end_working_out>.\n" +
        "You may write and reason about code during your thinking.\n" +
        "After thinking, you MUST provide your final solution wrapped in <SOLUTION> and </SOLUTION> tags.\n" +
        "Any code outside <SOLUTION> tags will be ignored. Your answer will score 0 without these tags.<|im_end|>\n" +
        "<|im_start|>user\nWrite a function to return the sum of the squares of the digits of a non-negative integer." +
        "\n\ndef digit_square_sum(n):\n    pass<|im_end|>\n<|im_start|>assistant\n",
    );
  });
  it("native mode drops the tag line and asks for enable_thinking", () => {
    const spec = buildPrompt({ question: "q" }, "native");
    expect(spec.messages[0]?.content).toBe(THINKING_CONFIGS.native.systemPrompt);
    expect(THINKING_CONFIGS.native.systemPrompt.split("\n")).toHaveLength(4);
    expect(THINKING_CONFIGS.native.systemPrompt).not.toContain("start_working_out");
    expect(spec.enableThinking).toBe(true);
    expect(spec.chatTemplate).toBe("checkpoint");
  });
  it("stubs the first def (a helper for 9006) after stripping \\r", () => {
    expect(mbppSignature("def is_prime(k):\n    pass\n\ndef count_primes(n):")).toBe("def is_prime(k):");
    expect(mbppSignature("def f(a):\r\n\treturn a")).toBe("def f(a):");
    expect(mbppSignature("x = 1")).toBe("");
  });
  it("GSM8K and MATH use the test split as is; MATH levels parse to ints", async () => {
    const store = fixtureStore();
    const gsm = createEnvironment("gsm8k", { split: "test" }, { datasets: store });
    expect(await gsm.size()).toBe(2);
    const g = await gsm.problemFromSeed(2 ** 31);
    expect(g.taskId).toBe("test_1");
    const math = createEnvironment("math", { split: "test" }, { datasets: store });
    expect(await math.size()).toBe(7);
    const m = await math.problemFromSeed(0);
    expect(m.env === "math" && [m.subject, m.level, m.answer]).toEqual(["Algebra", 1, "5"]);
    expect(parseMathLevel("Level ?")).toBe(0);
  });
  it("derives small val splits with the production code", async () => {
    const store = fixtureStore();
    expect(await store.gsm8k("val")).toHaveLength(1);
    expect(await store.gsm8k("train")).toHaveLength(3);
    // round(1·1/7) = 0 for the first six subjects; the last one takes the remaining row.
    expect((await store.math("val")).map((r) => r.type)).toEqual(["Precalculus"]);
    expect(await store.math("train")).toHaveLength(6);
  });
  it("HumanEval uses the prompt verbatim", async () => {
    const env = createEnvironment("humaneval", {}, { datasets: fixtureStore() });
    const p = await env.problemFromSeed(1);
    expect(p.taskId).toBe("humaneval_1");
    expect(p.question.startsWith("\n\ndef is_palindrome_number")).toBe(true);
  });
});
