import { PassThrough } from "node:stream";

/** A writable stream that collects what the logger prints, one entry per line. */
export function captureStream(isTTY = false): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  (stream as unknown as { isTTY: boolean }).isTTY = isTTY;
  const chunks: string[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
  return {
    stream,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter((l) => l.length > 0),
  };
}

/** Lets the winston pipeline (setImmediate-based) deliver pending records. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
