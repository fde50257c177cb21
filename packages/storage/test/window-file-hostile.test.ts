/**
 * A window file is another miner's upload, untrusted until read: every way it can be malformed
 * must end in a WindowFileFormatError that names what is wrong (the validator reports it as the
 * file being unreadable), never in an untyped error or a wrong row.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import thrift from "@dsnp/parquetjs/dist/gen-nodejs/parquet_types.js";
import { decodeThrift, serializeThrift } from "@dsnp/parquetjs/dist/lib/util.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWindowFile, WindowFileFormatError, windowFileMetadata, writeWindowFile } from "../src/index.js";
import { snappyDecompress } from "../src/window-file-codecs.js";
import { makeWindowRows, SAMPLE_HOTKEY } from "./helpers/rollouts.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
type FileMetaData = InstanceType<typeof thrift.FileMetaData>;

let dir: string;
let reference: Buffer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "grail-wf-hostile-"));
  reference = await readFile(join(FIXTURES, "window-zstd.parquet"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function footer(file: Buffer): FileMetaData {
  const length = file.readUInt32LE(file.length - 8);
  const md = new thrift.FileMetaData();
  decodeThrift(md, file.subarray(file.length - 8 - length, file.length - 8));
  return md;
}

/** The same pages under a footer changed by `edit`. */
function withFooter(file: Buffer, edit: (md: FileMetaData) => void): Buffer {
  const length = file.readUInt32LE(file.length - 8);
  const md = footer(file);
  edit(md);
  const encoded = serializeThrift(md);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(encoded.length, 0);
  tail.write("PAR1", 4);
  return Buffer.concat([file.subarray(0, file.length - 8 - length), encoded, tail]);
}

const column = (md: FileMetaData, path: string) =>
  md.row_groups[0]!.columns.find((c) => c.meta_data!.path_in_schema.join(".") === path)!.meta_data!;

async function refusal(file: Uint8Array): Promise<WindowFileFormatError> {
  const err = await readWindowFile(file).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WindowFileFormatError);
  return err as WindowFileFormatError;
}

describe("reading a malformed window file", () => {
  it("names the column and page of a page that does not decompress", async () => {
    const meta = column(footer(reference), "commit.tokens.list.element");
    const broken = Buffer.from(reference);
    // Inside the first data page's body, past its header.
    const at = Number(meta.data_page_offset) + 40;
    for (let i = at; i < at + 16; i++) broken[i] = broken[i]! ^ 0x5a;
    expect((await refusal(broken)).message).toMatch(/column commit\.tokens page \d+/);
  });

  it("refuses a codec it cannot read, naming the ones it can", async () => {
    const lz4 = withFooter(reference, (md) => {
      column(md, "nonce").codec = 5;
    });
    expect((await refusal(lz4)).message).toMatch(/column nonce.*not supported.*ZSTD, SNAPPY, GZIP/);
  });

  it("refuses a value encoding it cannot read, naming it", async () => {
    const rows = makeWindowRows({ windowStart: 60, groups: 1 });
    const path = join(dir, "encoding.parquet");
    const meta = windowFileMetadata({
      hotkey: SAMPLE_HOTKEY,
      windowStart: 60,
      rowCount: 16,
      timestampSeconds: 1,
    });
    await writeWindowFile(rows, meta, path, { codec: "UNCOMPRESSED" });
    const file = await readFile(path);
    // The first page (window_start) starts right after the magic; BYTE_STREAM_SPLIT is encoding 9.
    const header = new thrift.PageHeader();
    const size = decodeThrift(header, file, 4);
    header.data_page_header!.encoding = 9;
    const patched = serializeThrift(header);
    expect(patched.length).toBe(size);
    patched.copy(file, 4);
    expect((await refusal(file)).message).toMatch(/column window_start page 0 has BYTE_STREAM_SPLIT values/);
  });

  it("refuses a column of another type or a missing column, naming it", async () => {
    const int32 = withFooter(reference, (md) => {
      md.schema.find((s) => s.name === "window_start")!.type = 1;
    });
    expect((await refusal(int32)).message).toMatch(/window_start as INT32; §6\.4 has INT64/);
    const renamed = withFooter(reference, (md) => {
      md.schema.find((s) => s.name === "challenge")!.name = "challenge_v2";
    });
    expect((await refusal(renamed)).message).toMatch(/has no column challenge/);
  });

  it("refuses a column chunk that lies outside the file or holds fewer values than declared", async () => {
    const outside = withFooter(reference, (md) => {
      column(md, "block").data_page_offset = 1e9 as never;
    });
    expect((await refusal(outside)).message).toMatch(/column block lies outside the file/);
    const short = withFooter(reference, (md) => {
      const m = column(md, "hotkey");
      m.num_values = (Number(m.num_values) + 5) as never;
    });
    expect((await refusal(short)).message).toMatch(/column hotkey ends after 16 of 21 values/);
  });

  it("refuses a truncated file and a file that is not Parquet", async () => {
    expect((await refusal(reference.subarray(0, reference.length - 100))).message).toMatch(
      /not a Parquet file/,
    );
    expect((await refusal(Buffer.from("definitely not parquet"))).message).toMatch(/not a Parquet file/);
  });

  it.each([
    ["window-null-hotkey.parquet", /row 1 has a null hotkey/],
    ["window-null-token.parquet", /row 1 has a null element in commit\.tokens/],
  ])("refuses %s, written by pyarrow with a null, naming the row and field", async (name, message) => {
    expect((await refusal(await readFile(join(FIXTURES, name)))).message).toMatch(message);
  });
});

describe("reading our own edge cases", () => {
  it("reads back an empty and a one-element list", async () => {
    const rows = makeWindowRows({ windowStart: 60, groups: 1, promptLength: 7, completionLength: 33 });
    rows[5] = { ...rows[5]!, commit: { ...rows[5]!.commit, tokens: [] } };
    rows[6] = {
      ...rows[6]!,
      commit: { ...rows[6]!.commit, rollout: { ...rows[6]!.commit.rollout, token_logprobs: [-1.25] } },
    };
    const path = join(dir, "edges.parquet");
    const meta = windowFileMetadata({
      hotkey: SAMPLE_HOTKEY,
      windowStart: 60,
      rowCount: 16,
      timestampSeconds: 1,
    });
    for (const codec of ["ZSTD", "GZIP", "SNAPPY", "UNCOMPRESSED"] as const) {
      await writeWindowFile(rows, meta, path, { codec, rowGroupSize: 5 });
      expect((await readWindowFile(path)).rows, codec).toEqual(rows);
      await rm(path);
    }
  });
});

describe("snappy blocks", () => {
  it("expands literals and overlapping copies", () => {
    // Length 8; literal "ab"; copy length 6 from offset 2 (1-byte-offset form: 4 + 2 = 6).
    const block = Uint8Array.from([8, (2 - 1) << 2, 97, 98, 1 | ((6 - 4) << 2), 2]);
    expect(Buffer.from(snappyDecompress(block, 8)).toString()).toBe("abababab");
  });

  it("refuses a copy before the start of its output and a length other than the page's", () => {
    const block = Uint8Array.from([8, (2 - 1) << 2, 97, 98, 1 | ((6 - 4) << 2), 3]);
    expect(() => snappyDecompress(block, 8)).toThrow(WindowFileFormatError);
    expect(() => snappyDecompress(block, 8)).toThrow(/copy outside its output/);
    expect(() => snappyDecompress(Uint8Array.from([8, 4, 97, 98]), 9)).toThrow(
      /declares 8 bytes, its header 9/,
    );
  });
});
