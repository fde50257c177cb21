import { stat } from "node:fs/promises";
import type { RolloutRecord, WindowFileMetadata } from "@grail/protocol";
import type { WindowFileCodec } from "@grail/storage";

/** Messages from the coordinator to the writer thread. */
export type WriterRequest =
  | { type: "append"; windowStart: number; rows: RolloutRecord[] }
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
