/** The four source datasets, where they live on the hub, and the row counts spec §2 fixes. */

export type DatasetId = "gsm8k" | "math" | "mbpp" | "humaneval";

export const DATASET_IDS: readonly DatasetId[] = ["gsm8k", "math", "mbpp", "humaneval"];

/** MATH subjects in the fixed order the reference concatenates and stratifies them. */
export const MATH_SUBJECTS = [
  "algebra",
  "counting_and_probability",
  "geometry",
  "intermediate_algebra",
  "number_theory",
  "prealgebra",
  "precalculus",
] as const;
export type MathSubject = (typeof MATH_SUBJECTS)[number];

export interface SourceTable {
  /** Hub config (directory of the parquet shards); for MATH the subject. */
  readonly config: string;
  /** Hub split; the shards are `<config>/<split>-NNNNN-of-NNNNN.parquet`. */
  readonly split: string;
  /** Rows the table must have (spec §2). */
  readonly rows: number;
}

export interface DatasetSpec {
  readonly id: DatasetId;
  readonly repo: string;
  /**
   * Hub commit the fetcher downloads. The reference loads whatever `main` is; pinning keeps this
   * miner's problems stable, and the manifest records what was actually fetched.
   */
  readonly revision: string;
  readonly tables: readonly SourceTable[];
}

const MATH_TRAIN_ROWS = [1744, 771, 870, 1295, 869, 1205, 746];
const MATH_TEST_ROWS = [1187, 474, 479, 903, 540, 871, 546];

export const DATASETS: Readonly<Record<DatasetId, DatasetSpec>> = {
  gsm8k: {
    id: "gsm8k",
    repo: "openai/gsm8k",
    revision: "740312add88f781978c0658806c59bc2815b9866",
    tables: [
      { config: "main", split: "train", rows: 7473 },
      { config: "main", split: "test", rows: 1319 },
    ],
  },
  math: {
    id: "math",
    repo: "EleutherAI/hendrycks_math",
    revision: "21a5633873b6a120296cce3e2df9d5550074f4a3",
    tables: MATH_SUBJECTS.flatMap((subject, i) => [
      { config: subject, split: "train", rows: MATH_TRAIN_ROWS[i] as number },
      { config: subject, split: "test", rows: MATH_TEST_ROWS[i] as number },
    ]),
  },
  mbpp: {
    id: "mbpp",
    repo: "google-research-datasets/mbpp",
    revision: "4bb6404fdc6cacfda99d4ac4205087b89d32030c",
    tables: [
      { config: "full", split: "train", rows: 374 },
      { config: "full", split: "validation", rows: 90 },
      { config: "full", split: "test", rows: 500 },
    ],
  },
  humaneval: {
    id: "humaneval",
    repo: "openai/openai_humaneval",
    revision: "e9b53e1677523f1e61e4d0960fd7502694a24bd4",
    tables: [{ config: "openai_humaneval", split: "test", rows: 164 }],
  },
};

export interface Gsm8kRow {
  readonly question: string;
  readonly answer: string;
}

export interface MathRow {
  readonly problem: string;
  /** e.g. "Level 3"; "Level ?" occurs and parses to 0. */
  readonly level: string;
  /** Display name of the subject, e.g. "Counting & Probability". */
  readonly type: string;
  readonly solution: string;
}

export interface MbppRow {
  readonly task_id: number;
  readonly text: string;
  readonly code: string;
  readonly test_list: readonly string[];
  readonly test_setup_code: string;
  /** Absent from the `full` config, so always [] there. */
  readonly test_imports: readonly string[];
}

export interface HumanEvalRow {
  readonly task_id: string;
  readonly prompt: string;
  readonly canonical_solution: string;
  readonly test: string;
  readonly entry_point: string;
}

export interface RowTypes {
  gsm8k: Gsm8kRow;
  math: MathRow;
  mbpp: MbppRow;
  humaneval: HumanEvalRow;
}
