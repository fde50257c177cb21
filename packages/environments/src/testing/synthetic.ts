// Parquet shards shaped like the pinned hub repositories (same paths, columns and row counts as the
// catalog), filled with generated rows. Tests serve them from a loopback hub; the rows are ours and
// say so, so no test mistakes them for the real datasets.

import { parquetWriteBuffer } from "hyparquet-writer";
import { DATASETS, type DatasetId } from "../datasets/catalog.js";

/** Text every generated row carries, so a test can tell fetched rows from the bundled problem set. */
export const SYNTHETIC_MARKER = "synthetic hub row";

type Column = { name: string; data: unknown[] };

function stringColumns(columns: Column[]): Uint8Array {
  return new Uint8Array(
    parquetWriteBuffer({
      columnData: columns.map((c) => ({ name: c.name, data: c.data, type: "STRING" as const })),
    }),
  );
}

/** MBPP's layout as the hub's pyarrow writer produces it: nullable columns, 3-level LIST groups. */
export function mbppParquet(
  rows: readonly { task_id: number; text: string; code: string; test_list: string[]; setup: string }[],
): Uint8Array {
  return new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: "task_id", data: rows.map((r) => BigInt(r.task_id)) },
        { name: "text", data: rows.map((r) => r.text) },
        { name: "code", data: rows.map((r) => r.code) },
        { name: "test_list", data: rows.map((r) => r.test_list) },
        { name: "test_setup_code", data: rows.map((r) => r.setup) },
        { name: "challenge_test_list", data: rows.map(() => []) },
      ],
      schema: [
        { name: "schema", num_children: 6 },
        { name: "task_id", type: "INT64", repetition_type: "OPTIONAL" },
        { name: "text", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
        { name: "code", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
        { name: "test_list", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
        { name: "list", repetition_type: "REPEATED", num_children: 1 },
        { name: "element", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
        { name: "test_setup_code", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
        { name: "challenge_test_list", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
        { name: "list", repetition_type: "REPEATED", num_children: 1 },
        { name: "element", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
      ],
    }),
  );
}

/** Rows `from` to `to` (exclusive) of one table, as the hub's parquet file would hold them. */
function tableFile(dataset: DatasetId, config: string, split: string, from: number, to: number): Uint8Array {
  const ids = Array.from({ length: to - from }, (_, i) => from + i);
  const tag = (i: number) => `${SYNTHETIC_MARKER} ${dataset} ${config}/${split} #${i}`;
  switch (dataset) {
    case "gsm8k":
      return stringColumns([
        { name: "question", data: ids.map((i) => `${tag(i)}: what is ${i} plus 7?`) },
        { name: "answer", data: ids.map((i) => `${i} + 7 = <<${i}+7=${i + 7}>>${i + 7}\n#### ${i + 7}`) },
      ]);
    case "math":
      return stringColumns([
        { name: "problem", data: ids.map((i) => `${tag(i)}: compute $${i} + 2$.`) },
        { name: "level", data: ids.map((i) => `Level ${(i % 5) + 1}`) },
        { name: "type", data: ids.map(() => config) },
        { name: "solution", data: ids.map((i) => `$${i} + 2 = \\boxed{${i + 2}}$`) },
      ]);
    case "mbpp": {
      const base = split === "train" ? 601 : split === "validation" ? 511 : 11;
      return mbppParquet(
        ids.map((i) => ({
          task_id: base + i,
          text: `${tag(i)}: write a function that returns ${i}.`,
          code: `def f():\n    return ${i}`,
          test_list: [`assert f() == ${i}`],
          setup: "",
        })),
      );
    }
    case "humaneval":
      return stringColumns([
        { name: "task_id", data: ids.map((i) => `HumanEval/${i}`) },
        { name: "prompt", data: ids.map((i) => `def f():\n    """${tag(i)}: return ${i}."""\n`) },
        { name: "canonical_solution", data: ids.map((i) => `    return ${i}\n`) },
        { name: "test", data: ids.map((i) => `def check(candidate):\n    assert candidate() == ${i}\n`) },
        { name: "entry_point", data: ids.map(() => "f") },
      ]);
  }
}

/** Shard path of a table as the hub names it: `<config>/<split>-NNNNN-of-NNNNN.parquet`. */
export function shardPath(config: string, split: string, index = 0, count = 1): string {
  const n = (x: number) => String(x).padStart(5, "0");
  return `${config}/${split}-${n(index)}-of-${n(count)}.parquet`;
}

const generated = new Map<DatasetId, Map<string, Uint8Array>>();

/**
 * The files of one dataset's pinned repository: one shard per table at the catalog's row counts,
 * except GSM8K's train table, which comes in two shards (the fetcher concatenates them in name
 * order). Generated once per process.
 */
export function syntheticHubFiles(dataset: DatasetId): Map<string, Uint8Array> {
  let files = generated.get(dataset);
  if (files) return files;
  files = new Map();
  for (const t of DATASETS[dataset].tables) {
    if (dataset === "gsm8k" && t.split === "train") {
      const half = Math.floor(t.rows / 2);
      files.set(shardPath(t.config, t.split, 0, 2), tableFile(dataset, t.config, t.split, 0, half));
      files.set(shardPath(t.config, t.split, 1, 2), tableFile(dataset, t.config, t.split, half, t.rows));
    } else {
      files.set(shardPath(t.config, t.split), tableFile(dataset, t.config, t.split, 0, t.rows));
    }
  }
  generated.set(dataset, files);
  return files;
}
