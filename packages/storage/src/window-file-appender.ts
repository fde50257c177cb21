import { randomBytes } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { copyFile, mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import parquet from "@dsnp/parquetjs";
import type { WindowFileMetadata } from "@grail/protocol";
import { WindowFileFormatError } from "./errors.js";
import { CODEC_IDS, codecReady } from "./window-file-codecs.js";
import { type ColumnBuffer, columnBuffers } from "./window-file-pages.js";
import {
  checkRow,
  DEFAULT_WINDOW_FILE_CODEC,
  type WindowFileCodec,
  type WindowFileRow,
  windowFileSchema,
} from "./window-file-schema.js";

/**
 * The output file behind parquetjs's envelope writer. Write errors are kept and reported when the
 * file is closed: parquetjs issues some of its writes without awaiting them, so a rejected write
 * would otherwise surface as an unhandled rejection.
 */
class FileOutput {
  private readonly out: WriteStream;
  error: Error | null = null;

  constructor(path: string) {
    this.out = createWriteStream(path, { flags: "wx" });
    this.out.on("error", (err) => {
      this.error ??= err;
    });
  }

  write(buf: Buffer, callback: (err?: Error | null) => void): boolean {
    return this.out.write(buf, (err) => {
      if (err) this.error ??= err;
      callback();
    });
  }

  end(callback?: () => void): this {
    this.out.end(callback);
    return this;
  }

  /** Flushes and closes the file; rejects with the first write error. */
  async close(): Promise<void> {
    if (!this.out.closed) {
      await new Promise<void>((resolve) => {
        this.out.once("close", resolve);
        if (this.out.destroyed) return;
        this.out.end();
      });
    }
    if (this.error) throw this.error;
  }

  async destroy(): Promise<void> {
    if (this.out.closed) return;
    await new Promise<void>((resolve) => {
      this.out.once("close", resolve);
      this.out.destroy();
    });
  }
}

export interface WindowFileAppenderOptions {
  codec?: WindowFileCodec;
  /**
   * Rows per row group. A row group is encoded, compressed and written as soon as it is full, so
   * closing the file only encodes the last, partial one. Default 1024.
   */
  rowGroupSize?: number;
}

/**
 * Builds a window file while rows arrive: rows are validated and split into column buffers when
 * appended, each full row group is encoded, compressed and written to a partial file at once, and
 * close() writes the last row group and the footer (whose key/value metadata is only known then)
 * and renames the partial file to its final name. A window that is abandoned leaves no file.
 *
 * The pages are exactly what parquetjs's ParquetWriter writes for the same schema (same level
 * runs, PLAIN values, page headers, codec; ZSTD, which it lacks, compressed here), without its
 * per-value object churn; the file envelope (row groups, offset index, footer) is parquetjs's own
 * ParquetEnvelopeWriter.
 */
export class WindowFileAppender {
  private readonly columns: ColumnBuffer[];
  private groupRows = 0;
  private total = 0;
  private writing: Promise<void>;
  private state: "open" | "closing" | "closed" = "open";

  private constructor(
    readonly partialPath: string,
    private readonly output: FileOutput,
    private readonly envelope: InstanceType<typeof parquet.ParquetEnvelopeWriter>,
    schema: InstanceType<typeof parquet.ParquetSchema>,
    private readonly rowGroupSize: number,
  ) {
    this.columns = columnBuffers(schema);
    this.writing = Promise.resolve(envelope.writeHeader() as unknown as Promise<void>);
  }

  /** Opens `partialPath` (which must not exist; its directory is created). */
  static async create(
    partialPath: string,
    opts: WindowFileAppenderOptions = {},
  ): Promise<WindowFileAppender> {
    const rowGroupSize = opts.rowGroupSize ?? 1024;
    if (!Number.isInteger(rowGroupSize) || rowGroupSize < 1) {
      throw new WindowFileFormatError(`rowGroupSize must be a positive integer, got ${rowGroupSize}`, {
        rowGroupSize,
      });
    }
    const codec = opts.codec ?? DEFAULT_WINDOW_FILE_CODEC;
    if (!Object.hasOwn(CODEC_IDS, codec)) {
      throw new WindowFileFormatError(
        `codec ${String(codec)} is not one of ${Object.keys(CODEC_IDS).join(", ")} for window files`,
        { codec },
      );
    }
    await codecReady(codec);
    await mkdir(dirname(partialPath), { recursive: true });
    const schema = windowFileSchema(codec);
    const output = new FileOutput(partialPath);
    const envelope = await parquet.ParquetEnvelopeWriter.openStream(
      schema,
      output as unknown as Parameters<typeof parquet.ParquetEnvelopeWriter.openStream>[1],
      { useDataPageV2: false },
    );
    return new WindowFileAppender(partialPath, output, envelope, schema, rowGroupSize);
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.total;
  }

  /** Resolves once every full row group appended so far is in the partial file. */
  async flushed(): Promise<void> {
    await this.writing;
  }

  /**
   * Adds rows. They are all checked first: a missing or mistyped value throws
   * WindowFileFormatError and none of the rows is added (a group goes in whole or not at all).
   */
  append(rows: readonly WindowFileRow[]): void {
    if (this.state !== "open") throw new WindowFileFormatError("the window file is already closed", {});
    rows.forEach((row, i) => {
      checkRow(row, this.total + i);
    });
    for (const row of rows) {
      for (const c of this.columns) c.add(row);
      this.total++;
      if (++this.groupRows === this.rowGroupSize) this.sealRowGroup();
    }
  }

  /**
   * Writes the remaining rows and the footer with `metadata` (its inference_count must equal the
   * rows appended), then renames the partial file to `path`. On failure the partial file is
   * removed and nothing is left at `path`.
   */
  async close(
    metadata: WindowFileMetadata,
    path: string,
  ): Promise<{ path: string; size: number; rows: number }> {
    if (this.state !== "open") throw new WindowFileFormatError("the window file is already closed", { path });
    this.state = "closing";
    try {
      if (metadata.inference_count !== String(this.total)) {
        throw new WindowFileFormatError(
          `metadata inference_count ${metadata.inference_count} does not match ${this.total} rows`,
          { inference_count: metadata.inference_count, rows: this.total },
        );
      }
      if (this.groupRows > 0) this.sealRowGroup();
      await this.writing;
      this.envelope.writeBloomFilters();
      this.envelope.writeIndex();
      await (this.envelope.writeFooter({ ...metadata }) as unknown as Promise<void>);
      await this.output.close();
      await moveFile(this.partialPath, path);
      const { size } = await stat(path);
      this.state = "closed";
      return { path, size, rows: this.total };
    } catch (err) {
      await this.abort();
      if (err instanceof WindowFileFormatError) throw err;
      throw new WindowFileFormatError(
        `could not write window file ${path}: ${(err as Error).message}`,
        { path },
        { cause: err },
      );
    }
  }

  /** Abandons the file: closes and removes the partial file. */
  async abort(): Promise<void> {
    this.state = "closed";
    await this.writing.catch(() => undefined);
    await this.output.destroy();
    await rm(this.partialPath, { force: true });
  }

  private sealRowGroup(): void {
    const rowCount = this.groupRows;
    const pages: Record<string, { page: Buffer; num_values: number; first_row_index: number }[]> = {};
    for (const c of this.columns) {
      const { page, numValues } = c.seal(rowCount);
      pages[c.field.path.join(",")] = [{ page, num_values: numValues, first_row_index: 0 }];
    }
    this.groupRows = 0;
    const records = { rowCount, pages } as unknown as Parameters<typeof this.envelope.writeRowGroup>[0];
    this.writing = this.writing.then(() => this.envelope.writeRowGroup(records));
  }
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}

export interface WriteWindowFileOptions {
  codec?: WindowFileCodec;
  rowGroupSize?: number;
}

/**
 * Writes the rows and metadata to `path` atomically (a temp file in the same
 * directory, renamed on success), so a crash never leaves a truncated window file
 * where the uploader or a retry would pick it up.
 */
export async function writeWindowFile(
  rows: readonly WindowFileRow[],
  metadata: WindowFileMetadata,
  path: string,
  opts: WriteWindowFileOptions = {},
): Promise<void> {
  if (metadata.inference_count !== String(rows.length)) {
    throw new WindowFileFormatError(
      `metadata inference_count ${metadata.inference_count} does not match ${rows.length} rows`,
      { inference_count: metadata.inference_count, rows: rows.length },
    );
  }
  // The appender checks every row before adding any; a bad row aborts the partial file.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  let appender: WindowFileAppender;
  try {
    appender = await WindowFileAppender.create(tmp, opts);
  } catch (err) {
    if (err instanceof WindowFileFormatError) throw err;
    throw new WindowFileFormatError(
      `could not write window file ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
  try {
    appender.append(rows);
  } catch (err) {
    await appender.abort();
    throw err;
  }
  await appender.close(metadata, path);
}
