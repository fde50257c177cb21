/**
 * Worker-thread side of the window file writer: keeps each open window's rows and writes them with
 * the storage package's Parquet writer when the window is finished, so the ~1–3 ms per row the
 * writer costs never runs on the coordinator's event loop.
 */
import { parentPort } from "node:worker_threads";
import type { RolloutRecord } from "@grail/protocol";
import { writeWindowFile } from "@grail/storage";
import { unpackRow, type WriterReply, type WriterRequest, writeWindow } from "./window-writer-core.js";

const port = parentPort;
if (!port) throw new Error("window-writer-thread must run in a worker thread");

const open = new Map<number, RolloutRecord[]>();

port.on("message", (msg: WriterRequest) => {
  switch (msg.type) {
    case "append": {
      const rows = open.get(msg.windowStart) ?? [];
      for (const r of msg.rows) rows.push(unpackRow(r));
      open.set(msg.windowStart, rows);
      return;
    }
    case "discard":
      open.delete(msg.windowStart);
      return;
    case "finish": {
      const rows = open.get(msg.windowStart) ?? [];
      open.delete(msg.windowStart);
      writeWindow(writeWindowFile, rows, msg).then(
        (result) => port.postMessage({ id: msg.id, ok: true, ...result } satisfies WriterReply),
        (err: unknown) =>
          port.postMessage({
            id: msg.id,
            ok: false,
            error: err instanceof Error ? err.message : String(err),
          } satisfies WriterReply),
      );
      return;
    }
  }
});
