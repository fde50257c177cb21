import { describe, expect, test } from "vitest";
import { isVerbosityFlag, levelForVerbosity, parseVerbosity } from "../src/index.js";

describe("parseVerbosity", () => {
  test("counts -v, -vv and --verbose", () => {
    expect(parseVerbosity([])).toBe(0);
    expect(parseVerbosity(["-v"])).toBe(1);
    expect(parseVerbosity(["-vv"])).toBe(2);
    expect(parseVerbosity(["--verbose"])).toBe(1);
    expect(parseVerbosity(["-v", "--verbose"])).toBe(2);
    expect(parseVerbosity(["--no-drand", "-v", "mine"])).toBe(1);
  });

  test("caps at debug and stops at --", () => {
    expect(parseVerbosity(["-vvv"])).toBe(2);
    expect(parseVerbosity(["-vv", "-vv"])).toBe(2);
    expect(parseVerbosity(["--", "-vv"])).toBe(0);
  });

  test("ignores look-alikes", () => {
    expect(parseVerbosity(["-x", "-vx", "--verbosity", "v"])).toBe(0);
    expect(isVerbosityFlag("-vvv")).toBe(true);
    expect(isVerbosityFlag("-vx")).toBe(false);
  });

  test("levels per verbosity", () => {
    expect([0, 1, 2].map((v) => levelForVerbosity(v as 0 | 1 | 2))).toEqual(["notice", "info", "debug"]);
  });
});
