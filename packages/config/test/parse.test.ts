import { describe, expect, test } from "vitest";
import {
  formatByteSize,
  parseByteSize,
  parseDeviceList,
  parseProofEngine,
  splitCommand,
} from "../src/index.js";

describe("splitCommand", () => {
  test("words, quotes and escapes like a POSIX shell, without expansion", () => {
    expect(splitCommand("python3 -m sglang.launch_server")).toEqual([
      "python3",
      "-m",
      "sglang.launch_server",
    ]);
    expect(splitCommand(`a 'b c' "d \\"e\\" $HOME" f\\ g ''`)).toEqual([
      "a",
      "b c",
      'd "e" $HOME',
      "f g",
      "",
    ]);
    expect(splitCommand("  spaced\t\tout  ")).toEqual(["spaced", "out"]);
    expect(splitCommand(`"a"'b'c`)).toEqual(["abc"]);
  });

  test("malformed commands", () => {
    expect(() => splitCommand(`python "x`)).toThrow('unclosed " quote');
    expect(() => splitCommand("python x\\")).toThrow("lone backslash");
    expect(() => splitCommand("   ")).toThrow("no command");
  });
});

describe("byte sizes", () => {
  test("units are 1024-based and case-insensitive", () => {
    expect(parseByteSize("100MB")).toBe(100 * 1024 * 1024);
    expect(parseByteSize("1gb")).toBe(1024 ** 3);
    expect(parseByteSize("512 KB")).toBe(512 * 1024);
    expect(parseByteSize("1.5KB")).toBe(1536);
    expect(parseByteSize("42")).toBe(42);
    expect(() => parseByteSize("10XB")).toThrow();
    expect(() => parseByteSize("-1MB")).toThrow();
  });

  test("round trip for display", () => {
    expect(formatByteSize(100 * 1024 * 1024)).toBe("100MB");
    expect(formatByteSize(1536)).toBe("1536B");
    expect(formatByteSize(2 * 1024 ** 3)).toBe("2GB");
  });
});

describe("proof engine choice", () => {
  test("a single engine, per-GPU entries, or both", () => {
    expect(parseProofEngine("torch")).toEqual({ default: "torch", perGpu: {} });
    expect(parseProofEngine("4:native,5:torch")).toEqual({
      default: "native",
      perGpu: { 4: "native", 5: "torch" },
    });
    expect(parseProofEngine("torch, 4:native")).toEqual({ default: "torch", perGpu: { 4: "native" } });
    expect(parseProofEngine("")).toEqual({ default: "native", perGpu: {} });
  });

  test("unknown engines, two defaults, bad GPU keys", () => {
    expect(() => parseProofEngine("cuda")).toThrow('names the engine "cuda"');
    expect(() => parseProofEngine("native,torch")).toThrow("two default engines");
    expect(() => parseProofEngine("x:native")).toThrow('has "x" where a GPU index belongs');
  });
});

test("device lists accept indices and UUIDs", () => {
  expect(parseDeviceList("0, 1,2")).toEqual(["0", "1", "2"]);
  expect(parseDeviceList("MIG-4f3c/1/0,GPU-abc-123")).toEqual(["MIG-4f3c/1/0", "GPU-abc-123"]);
  expect(parseDeviceList("")).toEqual([]);
  expect(() => parseDeviceList("1,1")).toThrow("lists device 1 twice");
});
