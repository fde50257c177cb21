import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import path from "node:path";
import type winston from "winston";
import Transport from "winston-transport";

const MESSAGE = Symbol.for("message");

export interface RotatingFileOptions {
  path: string;
  maxSizeBytes: number;
  /** Rotated files kept: `<path>.1` (newest) … `<path>.<maxFiles>` (oldest), as Python's RotatingFileHandler. */
  maxFiles: number;
  format: winston.Logform.Format;
}

/**
 * A size-rotating file transport that writes each line synchronously. Synchronous appends keep the
 * last lines before a crash on disk and make close() exact; winston's own File transport can miss
 * its `finish` event when it is ended during a rotation. A failing disk disables the file (with
 * one line on stderr) instead of taking the miner down.
 */
export class RotatingFileTransport extends Transport {
  private fd: number | null = null;
  private size = 0;
  private failed = false;

  constructor(private readonly options: RotatingFileOptions) {
    super({ format: options.format });
    mkdirSync(path.dirname(options.path), { recursive: true });
    this.openFile();
    this.once("finish", () => this.closeFile());
  }

  override log(info: Record<PropertyKey, unknown>, callback: () => void): void {
    if (!this.failed && this.fd !== null) {
      try {
        const line = Buffer.from(`${String(info[MESSAGE])}\n`, "utf8");
        if (this.size > 0 && this.size + line.length > this.options.maxSizeBytes) this.rotate();
        writeSync(this.fd, line);
        this.size += line.length;
      } catch (err) {
        this.fail(err);
      }
    }
    callback();
  }

  override close(): void {
    this.closeFile();
  }

  private rotate(): void {
    this.closeFile();
    const base = this.options.path;
    for (let i = this.options.maxFiles - 1; i >= 1; i--) {
      if (existsSync(`${base}.${i}`)) renameSync(`${base}.${i}`, `${base}.${i + 1}`);
    }
    if (this.options.maxFiles >= 1) renameSync(base, `${base}.1`);
    this.openFile(this.options.maxFiles >= 1 ? "a" : "w");
  }

  private openFile(flags: "a" | "w" = "a"): void {
    this.fd = openSync(this.options.path, flags);
    this.size = fstatSync(this.fd).size;
  }

  private closeFile(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch {
      // already closed by the OS; nothing left to flush
    }
  }

  private fail(err: unknown): void {
    this.failed = true;
    this.closeFile();
    const reason = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `log file ${this.options.path} cannot be written (${reason}); file logging is off\n`,
    );
  }
}
