/**
 * The window file (spec/protocol.md §6.4): one Parquet file of a miner's rollouts for one window.
 * Its seams live in their own modules: the schema and metadata (window-file-schema), the page
 * codecs (window-file-codecs), the page encoder (window-file-pages), the appender that writes a
 * file while rows arrive (window-file-appender), and the reader (window-file-reader) with its
 * schema matching (window-file-layout), column chunk decoding (window-file-decode) and value
 * encodings (window-file-encodings). This module is the public face.
 */

export {
  WindowFileAppender,
  type WindowFileAppenderOptions,
  type WriteWindowFileOptions,
  writeWindowFile,
} from "./window-file-appender.js";
export { readWindowFile, readWindowFileFooter, type WindowFileContents } from "./window-file-reader.js";
export {
  DEFAULT_WINDOW_FILE_CODEC,
  pythonFloatStr,
  WINDOW_KEY_PREFIX,
  type WindowFileCodec,
  type WindowFileRow,
  windowFileMetadata,
  windowFileSchema,
  windowObjectKey,
} from "./window-file-schema.js";
