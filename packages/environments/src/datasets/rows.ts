import { EnvironmentError } from "../errors.js";
import type { DatasetId, Gsm8kRow, HumanEvalRow, MathRow, MbppRow, RowTypes } from "./catalog.js";

/** Thrown by the row normalisers; the caller wraps it with the file it came from. */
export class RowShapeError extends EnvironmentError {}

function str(row: Record<string, unknown>, key: string, fallback?: string): string {
  const v = row[key];
  if (typeof v === "string") return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw new RowShapeError(`field "${key}" is ${v === null ? "null" : typeof v}, expected a string`);
}

function strList(row: Record<string, unknown>, key: string, optional: boolean): string[] {
  const v = row[key];
  if ((v === undefined || v === null) && optional) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new RowShapeError(`field "${key}" must be a list of strings`);
  }
  return v as string[];
}

function int(row: Record<string, unknown>, key: string): number {
  const v = row[key];
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n))
    throw new RowShapeError(`field "${key}" must be an integer`);
  return n;
}

/**
 * Keeps only the fields the environments use, in the shape of the cache files. The same code
 * reads hub parquet rows (INT64 arrives as bigint) and cached JSONL rows.
 */
export const normalizeRow: { [K in DatasetId]: (row: Record<string, unknown>) => RowTypes[K] } = {
  gsm8k: (r): Gsm8kRow => ({ question: str(r, "question"), answer: str(r, "answer") }),
  math: (r): MathRow => ({
    problem: str(r, "problem"),
    level: str(r, "level"),
    type: str(r, "type"),
    solution: str(r, "solution"),
  }),
  mbpp: (r): MbppRow => ({
    task_id: int(r, "task_id"),
    text: str(r, "text"),
    code: str(r, "code"),
    test_list: strList(r, "test_list", false),
    test_setup_code: str(r, "test_setup_code", ""),
    test_imports: strList(r, "test_imports", true),
  }),
  humaneval: (r): HumanEvalRow => ({
    task_id: str(r, "task_id"),
    prompt: str(r, "prompt"),
    canonical_solution: str(r, "canonical_solution"),
    test: str(r, "test"),
    entry_point: str(r, "entry_point"),
  }),
};
