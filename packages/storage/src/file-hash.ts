import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** sha256 of a file, hex; read in 8 MiB chunks so multi-GB checkpoint files stay out of memory. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 8 * 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest("hex");
}
