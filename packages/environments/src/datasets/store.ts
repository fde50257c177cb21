import type { TableSource } from "./cache.js";
import type { Gsm8kRow, HumanEvalRow, MathRow, MbppRow } from "./catalog.js";
import { MATH_SUBJECTS } from "./catalog.js";
import { deriveGsm8k, deriveMath, deriveMbpp, PRODUCTION_SPLIT_PARAMS, type SplitParams } from "./splits.js";

export type Gsm8kSplit = "train" | "val" | "test";
export type MathSplit = "train" | "val" | "test";
export type MbppSplit = "train" | "validation";

/**
 * The derived splits of spec §2, computed once per process from a table source (the reference
 * keeps the same class-level caches).
 */
export class DatasetStore {
  readonly params: SplitParams;
  private readonly memo = new Map<string, Promise<readonly unknown[]>>();

  constructor(
    readonly source: TableSource,
    params: Partial<SplitParams> = {},
  ) {
    this.params = { ...PRODUCTION_SPLIT_PARAMS, ...params };
  }

  gsm8k(split: Gsm8kSplit): Promise<readonly Gsm8kRow[]> {
    return this.once(`gsm8k/${split}`, async () => {
      const [train, test] = await Promise.all([
        split === "test" ? Promise.resolve([]) : this.source.table("gsm8k", "main", "train"),
        split === "test" ? this.source.table("gsm8k", "main", "test") : Promise.resolve([]),
      ]);
      return deriveGsm8k(split, { train, test }, this.params);
    });
  }

  math(split: MathSplit): Promise<readonly MathRow[]> {
    return this.once(`math/${split}`, async () => {
      const hfSplit = split === "test" ? "test" : "train";
      const tables = await Promise.all(MATH_SUBJECTS.map((s) => this.source.table("math", s, hfSplit)));
      const subjects = tables.map((rows) =>
        hfSplit === "test" ? { train: [], test: rows } : { train: rows, test: [] },
      );
      return deriveMath(split, subjects, this.params);
    });
  }

  mbpp(split: MbppSplit): Promise<readonly MbppRow[]> {
    return this.once(`mbpp/${split}`, async () => {
      // All three HF splits are needed for either derived split.
      const [train, validation, test] = await Promise.all([
        this.source.table("mbpp", "full", "train"),
        this.source.table("mbpp", "full", "validation"),
        this.source.table("mbpp", "full", "test"),
      ]);
      return deriveMbpp(split, { train, validation, test }, this.params);
    });
  }

  humaneval(): Promise<readonly HumanEvalRow[]> {
    return this.once("humaneval/test", () => this.source.table("humaneval", "openai_humaneval", "test"));
  }

  private once<T>(key: string, load: () => Promise<readonly T[]>): Promise<readonly T[]> {
    let p = this.memo.get(key) as Promise<readonly T[]> | undefined;
    if (!p) {
      p = load();
      this.memo.set(key, p);
      // A failed load (missing files) may succeed after a fetch; do not cache the failure.
      p.catch(() => this.memo.delete(key));
    }
    return p;
  }
}
