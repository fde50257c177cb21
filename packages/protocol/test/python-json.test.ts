import { PythonJsonError, parsePythonJson, pythonFloatRepr, pythonJsonDumpsSorted } from "@grail/protocol";
import { describe, expect, test } from "vitest";

// Expected values were produced by CPython 3.11: repr(float), json.loads and
// json.dumps(sort_keys=True, separators=(",", ":")).
describe("Python's json as the reference validator uses it", () => {
  test("repr(float)", () => {
    const cases: [number, string][] = [
      [5e-324, "5e-324"],
      [2.2250738585072014e-308, "2.2250738585072014e-308"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [0.1, "0.1"],
      [0.1 + 0.2, "0.30000000000000004"],
      [1e22, "1e+22"],
      [1e21, "1e+21"],
      [123456789012345680, "1.2345678901234568e+17"],
      [9999999999999998, "9999999999999998.0"],
      [1e16, "1e+16"],
      [0.001, "0.001"],
      [0.0001, "0.0001"],
      [0.00011, "0.00011"],
      [9.999e-5, "9.999e-05"],
      [100, "100.0"],
      [1.5, "1.5"],
      [-2.5e-7, "-2.5e-07"],
      [12345.678, "12345.678"],
      [1 / 3, "0.3333333333333333"],
      [2 ** 53, "9007199254740992.0"],
      [4.35e-5, "4.35e-05"],
      [123e300, "1.23e+302"],
    ];
    for (const [x, repr] of cases) expect(pythonFloatRepr(x)).toBe(repr);
  });

  test("json.loads refuses what CPython's scanner refuses", () => {
    for (const text of [
      '{"a":1,}',
      "[1,]",
      '{"a" 1}',
      "{'a': 1}",
      "\ufeff[]",
      "[1] x",
      '"a\u0001b"',
      "1.",
      "01",
      "[1e]",
      '"\\x"',
      "nan",
      "-",
      "",
    ]) {
      let error: unknown;
      try {
        parsePythonJson(text);
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(text)).toBeInstanceOf(PythonJsonError);
      expect((error as PythonJsonError).message).toMatch(/^json\.loads refuses this text: /);
    }
  });

  test("json.loads accepts lone surrogates, NaN/Infinity and outer whitespace", () => {
    const dump = (text: string) => pythonJsonDumpsSorted(parsePythonJson(text));
    expect(dump('["\\ud800"]')).toBe('["\\ud800"]');
    expect(dump("  [ ]  ")).toBe("[]");
    expect(dump("-Infinity")).toBe("-Infinity");
    expect(dump("-0.0")).toBe("-0.0");
    expect(dump("-0")).toBe("0");
    expect(dump("1E+2")).toBe("100.0");
    expect(dump('{"b": 1, "a": {"d": [], "c": "x"}, "b": 2}')).toBe('{"a":{"c":"x","d":[]},"b":2}');
  });
});
