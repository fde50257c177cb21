import { copyFile, mkdir, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { containedPath } from "./contained-path.js";
import type { ObjectInfo, TransferOptions, UploadResult } from "./object-store-types.js";

/** What the window uploader needs of a bucket: upload a file, confirm it, delete a bad one. */
export interface WindowStoreWriter {
  readonly bucket: string;
  readonly role: "read" | "write";
  uploadFile(
    path: string,
    key: string,
    opts?: TransferOptions & { contentType?: string },
  ): Promise<UploadResult>;
  head(key: string, opts?: TransferOptions): Promise<ObjectInfo | null>;
  delete(key: string, opts?: TransferOptions): Promise<void>;
}

/**
 * A local directory standing in for the miner's bucket (a dry run): objects are files under
 * `root` at their keys, so the spool, the size bounds and the upload confirmation run as for a
 * real bucket while nothing leaves the machine.
 */
export class DirectoryStore implements WindowStoreWriter {
  readonly role = "write" as const;

  constructor(
    readonly root: string,
    /** The bucket the files would have gone to (for messages). */
    readonly bucket: string,
  ) {}

  /** Where the object `key` lies; refuses keys that leave `root`. */
  pathOf(key: string): string {
    return containedPath(this.root, key, "object key");
  }

  async uploadFile(path: string, key: string): Promise<UploadResult> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(path, target);
    const { size } = await stat(target);
    return { key, size, etag: undefined, multipart: false, attempts: 1 };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const s = await stat(this.pathOf(key));
      return { key, size: s.size, etag: undefined, lastModified: s.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }
}
