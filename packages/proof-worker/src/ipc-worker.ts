import type { Readable, Writable } from "node:stream";
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeMessage,
  errorReply,
  FrameDecoder,
  MessageError,
  parseRequest,
  type WorkerReply,
} from "@grail/ipc";
import type { Logger } from "@grail/log";
import type { WorkerCore } from "./core.js";

export interface IpcWorkerOptions {
  /** Requests from the parent (fd 3 in a child process). */
  input: Readable;
  /** Replies to the parent (fd 4 in a child process). */
  output: Writable;
  core: WorkerCore;
  logger: Logger;
  maxFrameBytes?: number;
}

/** Why the request loop ended: a shutdown request, the parent closing its end, or a dead output. */
export type IpcWorkerExit = "shutdown" | "parent_gone" | "output_closed";

/**
 * Serves the IPC protocol on a pair of streams until shutdown or until the parent goes away. The
 * worker announces itself with `hello`; every request gets exactly one reply; bytes that are not a
 * valid request get an `error` reply and the loop goes on.
 */
export function serveIpc(options: IpcWorkerOptions): Promise<IpcWorkerExit> {
  const { input, output, core, logger } = options;
  const decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
  return new Promise((resolve) => {
    let done = false;
    const finish = (why: IpcWorkerExit) => {
      if (done) return;
      done = true;
      input.off("data", onData);
      input.pause();
      resolve(why);
    };
    const send = (reply: WorkerReply) => {
      if (done) return;
      try {
        output.write(encodeMessage(reply));
      } catch (err) {
        logger.error("cannot encode a reply", { error: (err as Error).message, type: reply.type });
      }
    };
    const onData = (chunk: Buffer) => {
      for (const result of decoder.push(chunk)) {
        if (!result.ok) {
          const e = result.error;
          logger.warn("malformed frame from the parent", { code: e.code, error: e.message });
          send(errorReply(e.requestId, e.code, e.message));
          continue;
        }
        let req: ReturnType<typeof parseRequest>;
        try {
          req = parseRequest(result.frame);
        } catch (err) {
          if (!(err instanceof MessageError)) throw err;
          logger.warn("invalid request from the parent", { code: err.code, error: err.message });
          send(errorReply(err.requestId, err.code, err.message));
          continue;
        }
        void core.handle(req).then((reply) => {
          send(reply);
          if (reply.type === "bye") output.end(() => finish("shutdown"));
        });
      }
    };
    input.on("data", onData);
    input.once("end", () => finish("parent_gone"));
    input.once("close", () => finish("parent_gone"));
    input.once("error", () => finish("parent_gone"));
    output.once("error", () => finish("output_closed"));
    output.once("close", () => finish("output_closed"));
    send(core.hello());
  });
}
