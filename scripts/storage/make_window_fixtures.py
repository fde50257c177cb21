#!/usr/bin/env python3
"""Write window files the way the reference miner does (pyarrow), as test fixtures.

    python3 scripts/storage/make_window_fixtures.py [--rows ROWS.json] [--out DIR]

ROWS.json holds {"metadata": {...}, "rows": [...]} with rows in the Parquet shape (commitments and
beacon already JSON text), as `node scripts/storage/write-sample-window.mjs --rows-json` writes
them. The schema, the row conversion and the write_table call are the reference's
(grail/infrastructure/parquet_io.py: INFERENCE_SCHEMA, replace_schema_metadata, zstd level 1,
dictionaries and statistics on, pyarrow's default format version 2.6 and data page v1); the
other files vary one setting each, to cover what a reader may meet in a miner's upload:

  window-zstd.parquet       the reference's exact settings
  window-snappy.parquet     compression="snappy"
  window-gzip.parquet       compression="gzip"
  window-none.parquet       compression="none"
  window-plain.parquet      use_dictionary=False (PLAIN pages only)
  window-zstd-v2.parquet    data_page_version="2.0" (levels outside the compressed block, RLE booleans)
  window-zstd-paged.parquet 8-row row groups, many small pages, and dictionaries small enough that
                            pyarrow falls back to PLAIN pages in the middle of a column chunk

an empty window as the reference writes it (one row group of empty column chunks):

  window-empty.parquet      no rows, inference_count "0"

and two files a reader must refuse, of the first two rows with one value nulled in row 1:

  window-null-hotkey.parquet  hotkey is null
  window-null-token.parquet   commit.tokens[3] is null
"""

from __future__ import annotations

import argparse
import copy
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

MODEL_SCHEMA = pa.struct([("name", pa.string()), ("layer_index", pa.int32())])
ROLLOUT_SCHEMA = pa.struct(
    [
        ("total_reward", pa.float64()),
        ("advantage", pa.float64()),
        ("success", pa.bool_()),
        ("token_logprobs", pa.list_(pa.float32())),
        ("prompt_length", pa.int32()),
        ("completion_length", pa.int32()),
    ]
)
COMMIT_SCHEMA = pa.struct(
    [
        ("tokens", pa.list_(pa.int32())),
        ("commitments", pa.string()),
        ("proof_version", pa.string()),
        ("model", MODEL_SCHEMA),
        ("signature", pa.string()),
        ("beacon", pa.string()),
        ("rollout", ROLLOUT_SCHEMA),
    ]
)
INFERENCE_SCHEMA = pa.schema(
    [
        ("window_start", pa.int64()),
        ("block", pa.int64()),
        ("nonce", pa.int64()),
        ("block_hash", pa.string()),
        ("randomness", pa.string()),
        ("use_drand", pa.bool_()),
        ("rollout_group", pa.int64()),
        ("rollout_index", pa.int32()),
        ("total_in_group", pa.int32()),
        ("checkpoint_window", pa.int64()),
        ("commit", COMMIT_SCHEMA),
        ("timestamp", pa.float64()),
        ("challenge", pa.string()),
        ("hotkey", pa.string()),
        ("signature", pa.string()),
    ]
)

REFERENCE = dict(compression="zstd", compression_level=1, use_dictionary=True, write_statistics=True)

VARIANTS = {
    "window-zstd.parquet": REFERENCE,
    "window-snappy.parquet": dict(REFERENCE, compression="snappy", compression_level=None),
    "window-gzip.parquet": dict(REFERENCE, compression="gzip", compression_level=None),
    "window-none.parquet": dict(REFERENCE, compression="none", compression_level=None),
    "window-plain.parquet": dict(REFERENCE, use_dictionary=False),
    "window-zstd-v2.parquet": dict(REFERENCE, data_page_version="2.0"),
    "window-zstd-paged.parquet": dict(
        REFERENCE,
        row_group_size=8,
        data_page_size=256,
        write_batch_size=16,
        dictionary_pagesize_limit=128,
    ),
}


def nulled(rows: list[dict], edit) -> list[dict]:
    """The first two rows, row 1 changed by `edit`."""
    out = copy.deepcopy(rows[:2])
    edit(out[1])
    return out


NULLED = {
    "window-null-hotkey.parquet": lambda row: row.update(hotkey=None),
    "window-null-token.parquet": lambda row: row["commit"]["tokens"].__setitem__(3, None),
}


def describe(path: str) -> str:
    md = pq.ParquetFile(path).metadata
    return json.dumps(
        {
            "file": os.path.basename(path),
            "bytes": os.path.getsize(path),
            "rows": md.num_rows,
            "row_groups": md.num_row_groups,
            "format_version": md.format_version,
            "created_by": md.created_by,
        }
    )


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = os.path.join(here, "..", "..", "packages", "storage", "test", "fixtures")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=os.path.join(fixtures, "window-rows.json"))
    ap.add_argument("--out", default=fixtures)
    args = ap.parse_args()

    with open(args.rows, encoding="utf-8") as f:
        window = json.load(f)
    # The reference stores every metadata value as str(...).encode(); these already are strings.
    metadata = {k.encode(): v.encode() for k, v in window["metadata"].items()}

    def table_of(rows: list[dict]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=INFERENCE_SCHEMA).replace_schema_metadata(metadata)

    table = table_of(window["rows"])
    for name, options in VARIANTS.items():
        path = os.path.join(args.out, name)
        pq.write_table(table, path, **options)
        print(describe(path))
    path = os.path.join(args.out, "window-empty.parquet")
    empty = pa.Table.from_pylist([], schema=INFERENCE_SCHEMA)
    pq.write_table(empty.replace_schema_metadata({**metadata, b"inference_count": b"0"}), path, **REFERENCE)
    print(describe(path))
    for name, edit in NULLED.items():
        path = os.path.join(args.out, name)
        pq.write_table(table_of(nulled(window["rows"], edit)), path, **REFERENCE)
        print(describe(path))


if __name__ == "__main__":
    main()
