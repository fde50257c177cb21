import { describe, expect, it } from "vitest";
import { mulberry32 } from "../src/index.js";

describe("mulberry32", () => {
  it("yields the sequence the synthetic models and batches were generated with", () => {
    const rand = mulberry32(1);
    expect([rand(), rand(), rand()]).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
  });

  it("is the same for the same seed and stays in [0, 1)", () => {
    const a = mulberry32(0x5eed ^ 7);
    const b = mulberry32(0x5eed ^ 7);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});
