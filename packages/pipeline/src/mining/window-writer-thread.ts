/**
 * Worker-thread side of the window file writer: encodes each open window's rows into its Parquet
 * file as they arrive (WindowFileSet), so neither the ~0.3 ms per row the encoding costs nor a
 * window-sized write at the seal ever runs on the coordinator's event loop.
 */
import { parentPort, workerData } from "node:worker_threads";
import { unpackRow, WindowFileSet, type WriterReply, type WriterRequest } from "./window-writer-core.js";

const port = parentPort;
if (!port) throw new Error("window-writer-thread must run in a worker thread");

const { token, rowGroupSize } = workerData as { token: string; rowGroupSize?: number };
const files = new WindowFileSet(token, rowGroupSize);

const fail = (id: number, err: unknown) =>
  port.postMessage({
    id,
    ok: false,
    error: err instanceof Error ? err.message : String(err),
  } satisfies WriterReply);

port.on("message", (msg: WriterRequest) => {
  switch (msg.type) {
    case "append":
      files.append(msg.windowStart, msg.rows.map(unpackRow), msg.file);
      return;
    case "discard":
      void files.discard(msg.windowStart);
      return;
    case "finish":
      files.finish(msg.windowStart, msg).then(
        (result) => port.postMessage({ id: msg.id, ok: true, ...result } satisfies WriterReply),
        (err: unknown) => fail(msg.id, err),
      );
      return;
    case "close":
      files.close().then(
        () => port.postMessage({ id: msg.id, ok: true, closed: true } satisfies WriterReply),
        (err: unknown) => fail(msg.id, err),
      );
      return;
  }
});
