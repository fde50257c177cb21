/**
 * Decoding one column chunk of a window file into its levels and values, for files written by us
 * or by another miner's pyarrow: dictionary pages, v1 and v2 data pages, every encoding of
 * window-file-encodings and every codec of window-file-codecs. Offsets and sizes from the footer
 * and the page headers are checked before they are used.
 */
import thrift from "@dsnp/parquetjs/dist/gen-nodejs/parquet_types.js";
import { decodeThrift } from "@dsnp/parquetjs/dist/lib/util.js";
import { WindowFileFormatError } from "./errors.js";
import { decompressPage } from "./window-file-codecs.js";
import {
  type ColumnValues,
  concatValues,
  decodePlain,
  decodeValues,
  ENCODING,
  type Fail,
  levels,
  levelsV1,
  type Physical,
} from "./window-file-encodings.js";

/** A leaf column as the file's schema defines it. */
export interface LeafColumn {
  /** Dotted path, for messages. */
  readonly path: string;
  readonly physical: Physical;
  readonly maxDef: number;
  readonly maxRep: number;
}

/** One column chunk: a level entry per value slot (null when the max level is 0), and the non-null values. */
export interface ColumnChunkData {
  readonly defs: Uint8Array | null;
  readonly reps: Uint8Array | null;
  readonly values: ColumnValues;
  readonly entries: number;
}

const PAGE = { DATA: 0, INDEX: 1, DICTIONARY: 2, DATA_V2: 3 } as const;

/**
 * Bounds on what the footer and page headers may declare, so that a hostile file cannot make the
 * reader allocate more than a real window could need: a column chunk of 2^28 values holds more
 * than a 350 MiB file can, and a page decompresses to at most 1 GiB.
 */
const MAX_CHUNK_VALUES = 2 ** 28;
const MAX_PAGE_BYTES = 2 ** 30;

const nonNull = (defs: Uint8Array | null, max: number, count: number) => {
  if (!defs) return count;
  let n = 0;
  for (let i = 0; i < defs.length; i++) if (defs[i] === max) n++;
  return n;
};

function concatLevels(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Reads the column chunk described by `meta` from the whole file: its pages in order until the
 * chunk's value count is reached. `where` prefixes every error.
 */
export async function readColumnChunk(
  file: Uint8Array,
  meta: InstanceType<typeof thrift.ColumnMetaData>,
  leaf: LeafColumn,
  where: string,
): Promise<ColumnChunkData> {
  const chunkFail: Fail = (why) => {
    throw new WindowFileFormatError(`${where}: column ${leaf.path} ${why}`, { column: leaf.path });
  };
  const want = Number(meta.num_values);
  const dictOffset = meta.dictionary_page_offset == null ? null : Number(meta.dictionary_page_offset);
  const dataOffset = Number(meta.data_page_offset);
  const start = dictOffset !== null && dictOffset > 0 && dictOffset < dataOffset ? dictOffset : dataOffset;
  const end = start + Number(meta.total_compressed_size);
  if (!(Number.isSafeInteger(want) && want >= 0 && want <= MAX_CHUNK_VALUES)) {
    chunkFail(`declares ${meta.num_values} values (at most ${MAX_CHUNK_VALUES} are read)`);
  }
  if (want === 0) {
    // pyarrow writes an empty table as one row group of empty chunks, whose offsets may be 0.
    const none = new Uint8Array(0);
    const values = concatValues(leaf.physical, []);
    return { defs: leaf.maxDef > 0 ? none : null, reps: leaf.maxRep > 0 ? none : null, values, entries: 0 };
  }
  if (!(start >= 4 && end <= file.length - 8 && dataOffset >= start && dataOffset < end)) {
    chunkFail(`lies outside the file (bytes ${start}..${end}, data at ${dataOffset}, of ${file.length})`);
  }
  const fileBuf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const defParts: Uint8Array[] = [];
  const repParts: Uint8Array[] = [];
  const valueParts: ColumnValues[] = [];
  let dict: ColumnValues | null = null;
  let entries = 0;
  let pos = start;
  for (let page = 0; entries < want; page++) {
    if (pos >= end) chunkFail(`ends after ${entries} of ${want} values`);
    const pageWhere = `${where}: column ${leaf.path} page ${page}`;
    const fail: Fail = (why) => {
      throw new WindowFileFormatError(`${pageWhere} ${why}`, { column: leaf.path, page });
    };
    const header = new thrift.PageHeader();
    try {
      pos += decodeThrift(header, fileBuf, pos);
    } catch (err) {
      fail(`has a header that does not decode: ${(err as Error).message}`);
    }
    const size = header.compressed_page_size;
    if (!(Number.isInteger(size) && size >= 0 && pos + size <= end)) fail(`runs past its column chunk`);
    const body = file.subarray(pos, pos + size);
    pos += size;
    const rawSize = header.uncompressed_page_size;
    if (!(Number.isInteger(rawSize) && rawSize >= 0 && rawSize <= MAX_PAGE_BYTES)) {
      fail(`declares ${rawSize} uncompressed bytes (at most ${MAX_PAGE_BYTES} are read)`);
    }
    if (header.type === PAGE.INDEX) continue;
    if (header.type === PAGE.DICTIONARY) {
      const h = header.dictionary_page_header;
      if (!h || dict || entries > 0) fail("is a dictionary page out of place");
      if (h!.encoding !== ENCODING.PLAIN && h!.encoding !== ENCODING.PLAIN_DICTIONARY) {
        fail(`is a dictionary in encoding ${h!.encoding}, not PLAIN`);
      }
      const payload = await decompressPage(meta.codec, body, rawSize, pageWhere);
      dict = decodePlain(leaf.physical, payload, 0, payload.length, h!.num_values, fail);
      continue;
    }
    let count: number;
    let defs: Uint8Array | null = null;
    let reps: Uint8Array | null = null;
    let values: ColumnValues;
    if (header.type === PAGE.DATA) {
      const h = header.data_page_header;
      if (!h) fail("has no data page header");
      count = h!.num_values;
      if (!(Number.isInteger(count) && count >= 0 && count <= want - entries))
        fail(`declares ${count} values`);
      const payload = await decompressPage(meta.codec, body, rawSize, pageWhere);
      let at = 0;
      if (leaf.maxRep > 0)
        ({ out: reps, next: at } = levelsV1(
          payload,
          at,
          leaf.maxRep,
          count,
          h!.repetition_level_encoding,
          fail,
        ));
      if (leaf.maxDef > 0)
        ({ out: defs, next: at } = levelsV1(
          payload,
          at,
          leaf.maxDef,
          count,
          h!.definition_level_encoding,
          fail,
        ));
      values = decodeValues(
        leaf.physical,
        h!.encoding,
        payload,
        at,
        nonNull(defs, leaf.maxDef, count),
        dict,
        fail,
      );
    } else if (header.type === PAGE.DATA_V2) {
      const h = header.data_page_header_v2;
      if (!h) fail("has no v2 data page header");
      count = h!.num_values;
      if (!(Number.isInteger(count) && count >= 0 && count <= want - entries))
        fail(`declares ${count} values`);
      const repBytes = h!.repetition_levels_byte_length;
      const defBytes = h!.definition_levels_byte_length;
      if (!(repBytes >= 0 && defBytes >= 0 && repBytes + defBytes <= Math.min(size, rawSize))) {
        fail("has level lengths past its end");
      }
      if (leaf.maxRep > 0) reps = levels(body, 0, repBytes, leaf.maxRep, count, fail).out;
      if (leaf.maxDef > 0) defs = levels(body, repBytes, repBytes + defBytes, leaf.maxDef, count, fail).out;
      // v2 keeps the levels outside the compressed block; only the values are compressed.
      const rest = body.subarray(repBytes + defBytes);
      const payload =
        h!.is_compressed === false
          ? rest
          : await decompressPage(meta.codec, rest, rawSize - repBytes - defBytes, pageWhere);
      values = decodeValues(
        leaf.physical,
        h!.encoding,
        payload,
        0,
        nonNull(defs, leaf.maxDef, count),
        dict,
        fail,
      );
    } else {
      return fail(`has page type ${header.type}, not a data or dictionary page`);
    }
    if (defs) defParts.push(defs);
    if (reps) repParts.push(reps);
    valueParts.push(values);
    entries += count;
  }
  return {
    defs: leaf.maxDef > 0 ? concatLevels(defParts, entries) : null,
    reps: leaf.maxRep > 0 ? concatLevels(repParts, entries) : null,
    values: concatValues(leaf.physical, valueParts),
    entries,
  };
}
