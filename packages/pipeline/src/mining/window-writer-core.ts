import { stat } from "node:fs/promises";
import type { RolloutRecord, WindowFileMetadata } from "@grail/protocol";
import type { WindowFileCodec } from "@grail/storage";

/**
 * A row on its way to the writer thread: the two long number lists travel as typed arrays whose
 * buffers are transferred, not cloned element by element (the clone cost ~0.5 ms per row of
 * ~700 tokens on the coordinator's thread; the transfer is a copy into one typed array).
 */
export interface PackedRow {
  row: RolloutRecord;
  tokens: Int32Array;
  logprobs: Float64Array;
}

export function packRow(row: RolloutRecord): PackedRow {
  const { tokens, rollout } = row.commit;
  const stripped: RolloutRecord = {
    ...row,
    commit: { ...row.commit, tokens: [], rollout: { ...rollout, token_logprobs: [] } },
  };
  return {
    row: stripped,
    tokens: Int32Array.from(tokens),
    logprobs: Float64Array.from(rollout.token_logprobs),
  };
}

export function unpackRow(p: PackedRow): RolloutRecord {
  const { row } = p;
  return {
    ...row,
    commit: {
      ...row.commit,
      tokens: Array.from(p.tokens),
      rollout: { ...row.commit.rollout, token_logprobs: Array.from(p.logprobs) },
    },
  };
}

/** Messages from the coordinator to the writer thread. */
export type WriterRequest =
  | { type: "append"; windowStart: number; rows: PackedRow[] }
  | { type: "discard"; windowStart: number }
  | ({ type: "finish"; id: number; windowStart: number } & FinishSpec);

export interface FinishSpec {
  path: string;
  metadata: WindowFileMetadata;
  codec?: WindowFileCodec;
}

export type WriterReply =
  | { id: number; ok: true; size: number; rows: number; writeMs: number }
  | { id: number; ok: false; error: string };

type WriteFn = (
  rows: readonly RolloutRecord[],
  metadata: WindowFileMetadata,
  path: string,
  opts: { codec?: WindowFileCodec },
) => Promise<void>;

/** Writes one window's rows and reports the file size; shared by the thread and the inline mode. */
export async function writeWindow(
  write: WriteFn,
  rows: readonly RolloutRecord[],
  spec: FinishSpec,
): Promise<{ size: number; rows: number; writeMs: number }> {
  const started = performance.now();
  const metadata = { ...spec.metadata, inference_count: String(rows.length) };
  await write(rows, metadata, spec.path, spec.codec ? { codec: spec.codec } : {});
  const size = (await stat(spec.path)).size;
  return { size, rows: rows.length, writeMs: performance.now() - started };
}
