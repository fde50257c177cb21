import type { WindowTask } from "@grail/pipeline";
import {
  checkWindowRows,
  MAX_ROLLOUT_FILE_SIZE_BYTES,
  MIN_ROLLOUT_FILE_SIZE_BYTES,
  parsePythonJson,
  type RolloutRecord,
  type WindowCheckKind,
} from "@grail/protocol";
import { errorMessage, readWindowFile } from "@grail/storage";
import type { CheckId, CheckLedger } from "./checks.js";
import type { LoadedCheckpoint, WindowFileInput, WindowValidationInput } from "./input.js";

/** Ledger subjects: one row of the file, one rollout group. */
export const rowSubject = (i: number) => `row:${i}`;
export const groupSubject = (g: number) => `group:${g}`;

export interface WindowFileRows {
  rows: RolloutRecord[];
  metadata: Record<string, string>;
}

/** §7.1.1: an object exists at the window's key. */
function fileFound(ledger: CheckLedger, file: WindowFileInput | null): file is WindowFileInput {
  if (!file) {
    ledger.fail("file_found", "file", { message: "no window file at the expected key" });
    return false;
  }
  ledger.pass("file_found", "file");
  return true;
}

/** §7.1.2: the listed size is within the validator's bounds. */
function fileSize(ledger: CheckLedger, file: WindowFileInput): void {
  const size = file.size ?? file.bytes.byteLength;
  if (size < MIN_ROLLOUT_FILE_SIZE_BYTES || size > MAX_ROLLOUT_FILE_SIZE_BYTES) {
    ledger.fail("file_size", "file", {
      message: `${size} bytes is outside [${MIN_ROLLOUT_FILE_SIZE_BYTES}, ${MAX_ROLLOUT_FILE_SIZE_BYTES}]`,
    });
  } else ledger.pass("file_size", "file");
}

/** §7.1.3: LastModified is not after the deadline; not run when either is unknown. */
function uploadDeadline(ledger: CheckLedger, file: WindowFileInput, deadlineSeconds: number | null): void {
  if (deadlineSeconds === null || file.lastModified === null) {
    ledger.notRun(
      "upload_deadline",
      "file",
      "no LastModified or no deadline (local file, or next window not reached)",
    );
    return;
  }
  const at = file.lastModified.getTime() / 1000;
  if (at > deadlineSeconds) {
    ledger.fail("upload_deadline", "file", {
      message: `uploaded at ${new Date(at * 1000).toISOString()}, ${(at - deadlineSeconds).toFixed(1)} s after the deadline`,
    });
  } else ledger.pass("upload_deadline", "file");
}

/** §7.1.4–5: the bytes parse as a window file. */
async function parquetReadable(ledger: CheckLedger, file: WindowFileInput): Promise<WindowFileRows | null> {
  try {
    const read = await readWindowFile(file.bytes);
    ledger.pass("parquet_readable", "file");
    return read;
  } catch (err) {
    ledger.fail("parquet_readable", "file", { message: errorMessage(err) });
    return null;
  }
}

/**
 * §6.4: the reference decodes both JSON columns of every row with `json.loads` while reading the
 * file; one that raises makes its download fail, and the window counts as missing.
 */
function jsonColumns(ledger: CheckLedger, rows: readonly RolloutRecord[]): void {
  let ok = true;
  rows.forEach((r, i) => {
    for (const column of ["commitments", "beacon"] as const) {
      try {
        parsePythonJson(r.commit[column]);
      } catch (err) {
        ok = false;
        ledger.fail("json_columns", rowSubject(i), {
          row: i,
          message: `commit.${column}: ${errorMessage(err)}`,
        });
      }
    }
  });
  if (ok) ledger.pass("json_columns", "file");
}

/**
 * §7.1, discovery and download: the file's checks, then its rows; null when there is no file
 * or it does not parse (the report then ends there).
 */
export async function readCheckedWindowFile(
  input: Pick<WindowValidationInput, "file" | "deadlineSeconds">,
  ledger: CheckLedger,
): Promise<WindowFileRows | null> {
  if (!fileFound(ledger, input.file)) return null;
  fileSize(ledger, input.file);
  uploadDeadline(ledger, input.file, input.deadlineSeconds);
  const file = await parquetReadable(ledger, input.file);
  if (file) jsonColumns(ledger, file.rows);
  return file;
}

/** Row indices by rollout_group, groups in the order they first appear in the file. */
export function groupRows(rows: readonly Pick<RolloutRecord, "rollout_group">[]): Map<number, number[]> {
  const groupsOf = new Map<number, number[]>();
  rows.forEach((r, i) => {
    const members = groupsOf.get(r.rollout_group) ?? [];
    members.push(i);
    groupsOf.set(r.rollout_group, members);
  });
  return groupsOf;
}

const KIND_TO_CHECK: Record<WindowCheckKind, CheckId> = {
  metadata_invalid: "file_metadata",
  wallet_mismatch: "wallet_match",
  window_mismatch: "window_match",
  rollout_group_missing: "rollout_group_valid",
  block_hash_mismatch: "block_hash_match",
  checkpoint_mismatch: "checkpoint_window",
  duplicate_nonce: "nonce_unique",
  invalid_group_size: "group_size",
  schema_invalid: "schema_valid",
  tokens_invalid: "tokens_valid",
  proof_invalid: "proof_valid",
  termination_invalid: "termination_valid",
  logprobs_invalid: "logprobs_valid",
  advantage_sum: "advantage_sum",
  advantage_mismatch: "advantage_match",
};

/** Checks over every row that checkWindowRows reports, passed for rows it does not flag. */
const ROW_STRUCTURE_CHECKS: CheckId[] = [
  "window_match",
  "block_hash_match",
  "rollout_group_valid",
  "nonce_unique",
  "checkpoint_window",
  "schema_valid",
  "tokens_valid",
];

/**
 * §7.2 and the model-free parts of §7.4/§7.5, over all rows: what checkWindowRows flags fails
 * its check, every other row and group passes it (checkpoint_window only with a checkpoint).
 */
export function checkFileStructure(
  ledger: CheckLedger,
  file: WindowFileRows,
  groupsOf: ReadonlyMap<number, readonly number[]>,
  context: Pick<WindowValidationInput, "hotkey" | "window" | "blockHash"> & {
    ckpt: LoadedCheckpoint | null;
    task: WindowTask | null;
  },
): void {
  const { rows, metadata } = file;
  const { ckpt, task } = context;
  const structural = checkWindowRows(rows, metadata, {
    hotkey: context.hotkey,
    windowStart: context.window,
    blockHash: context.blockHash,
    ...(ckpt ? { checkpointWindow: ckpt.window } : {}),
    ...(task ? { maxTokens: task.policy.maxNewTokens } : {}),
    ...(ckpt
      ? { vocabSize: ckpt.model.info.vocabSize, maxSequenceLength: ckpt.model.info.maxPositionEmbeddings }
      : {}),
  });
  for (const f of structural) {
    const id = KIND_TO_CHECK[f.check];
    const subject =
      f.row !== undefined && f.check !== "advantage_mismatch"
        ? rowSubject(f.row)
        : f.group !== undefined
          ? groupSubject(f.group)
          : "file";
    ledger.fail(id, subject, {
      message: f.message,
      ...(f.row !== undefined ? { row: f.row } : {}),
      ...(f.group !== undefined ? { group: f.group } : {}),
    });
  }
  for (const id of ["wallet_match", "window_match", "file_metadata"] as CheckId[]) ledger.pass(id, "file");
  for (let i = 0; i < rows.length; i++) {
    for (const id of ROW_STRUCTURE_CHECKS) {
      if (id !== "checkpoint_window" || ckpt) ledger.pass(id, rowSubject(i));
    }
  }
  for (const g of groupsOf.keys()) {
    for (const id of ["group_size", "advantage_sum", "advantage_match"] as CheckId[])
      ledger.pass(id, groupSubject(g));
  }
}
