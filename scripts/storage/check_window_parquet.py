#!/usr/bin/env python3
"""Check a window Parquet file the way the reference validator reads it (pyarrow).

    python3 scripts/storage/check_window_parquet.py FILE [--hotkey SS58] [--window W]

Asserts the Arrow schema of spec/protocol.md section 6.4 (field order, types, struct
nesting, lists; list element names are not compared), the five key/value metadata
entries and their parsability (int()/float() as the validator does), no nulls anywhere,
the size bounds, and that the JSON text columns decode. Needs only pyarrow.
Exit status 0 when every check passes; the failures are printed otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

MIN_BYTES = 200
MAX_BYTES = 367001600

EXPECTED = pa.schema(
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
        (
            "commit",
            pa.struct(
                [
                    ("tokens", pa.list_(pa.int32())),
                    ("commitments", pa.string()),
                    ("proof_version", pa.string()),
                    ("model", pa.struct([("name", pa.string()), ("layer_index", pa.int32())])),
                    ("signature", pa.string()),
                    ("beacon", pa.string()),
                    (
                        "rollout",
                        pa.struct(
                            [
                                ("total_reward", pa.float64()),
                                ("advantage", pa.float64()),
                                ("success", pa.bool_()),
                                ("token_logprobs", pa.list_(pa.float32())),
                                ("prompt_length", pa.int32()),
                                ("completion_length", pa.int32()),
                            ]
                        ),
                    ),
                ]
            ),
        ),
        ("timestamp", pa.float64()),
        ("challenge", pa.string()),
        ("hotkey", pa.string()),
        ("signature", pa.string()),
    ]
)


def same_type(actual: pa.DataType, expected: pa.DataType, path: str, errors: list[str]) -> None:
    if pa.types.is_struct(expected):
        if not pa.types.is_struct(actual):
            errors.append(f"{path}: expected struct, got {actual}")
            return
        names = [actual.field(i).name for i in range(actual.num_fields)]
        want = [expected.field(i).name for i in range(expected.num_fields)]
        if names != want:
            errors.append(f"{path}: struct fields {names} != {want}")
            return
        for i in range(expected.num_fields):
            same_type(actual.field(i).type, expected.field(i).type, f"{path}.{want[i]}", errors)
    elif pa.types.is_list(expected):
        if not pa.types.is_list(actual):
            errors.append(f"{path}: expected list, got {actual}")
            return
        same_type(actual.value_type, expected.value_type, f"{path}[]", errors)
    elif not actual.equals(expected):
        errors.append(f"{path}: type {actual} != {expected}")


def count_nulls(arr: pa.Array, path: str, errors: list[str]) -> None:
    if arr.null_count:
        errors.append(f"{path}: {arr.null_count} null value(s)")
    if pa.types.is_struct(arr.type):
        for i in range(arr.type.num_fields):
            count_nulls(arr.field(i), f"{path}.{arr.type.field(i).name}", errors)
    elif pa.types.is_list(arr.type):
        count_nulls(arr.flatten(), f"{path}[]", errors)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--hotkey")
    ap.add_argument("--window", type=int)
    args = ap.parse_args()

    errors: list[str] = []
    size = os.path.getsize(args.file)
    if not MIN_BYTES <= size <= MAX_BYTES:
        errors.append(f"file size {size} outside [{MIN_BYTES}, {MAX_BYTES}]")

    pf = pq.ParquetFile(args.file)
    table = pq.read_table(args.file)
    schema = table.schema

    names = [f.name for f in schema]
    want = [f.name for f in EXPECTED]
    if names != want:
        errors.append(f"top-level fields {names} != {want}")
    else:
        for f in EXPECTED:
            same_type(schema.field(f.name).type, f.type, f.name, errors)

    kv = {k.decode(): v.decode() for k, v in (pf.metadata.metadata or {}).items()}
    for key in ("wallet", "window_start", "window_length", "inference_count", "timestamp"):
        if key not in kv:
            errors.append(f"metadata key {key!r} missing (have {sorted(kv)})")
    try:
        window_start = int(kv.get("window_start", "x"))
        window_length = int(kv.get("window_length", "x"))
        inference_count = int(kv.get("inference_count", "x"))
        float(kv.get("timestamp", "x"))
        if window_length != 30:
            errors.append(f"window_length {window_length} != 30")
        if inference_count != table.num_rows:
            errors.append(f"inference_count {inference_count} != {table.num_rows} rows")
        if args.window is not None and window_start != args.window:
            errors.append(f"window_start {window_start} != {args.window}")
    except ValueError as exc:
        errors.append(f"unparsable metadata value: {exc}")
    if args.hotkey is not None and kv.get("wallet") != args.hotkey:
        errors.append(f"wallet {kv.get('wallet')!r} != {args.hotkey!r}")

    if not errors:
        for i, f in enumerate(schema):
            count_nulls(table.column(i).combine_chunks(), f.name, errors)

    rows = table.to_pylist()
    for idx, row in enumerate(rows):
        commit = row["commit"]
        try:
            commitments = json.loads(commit["commitments"])
            beacon = json.loads(commit["beacon"])
        except (TypeError, ValueError) as exc:
            errors.append(f"row {idx}: JSON column does not decode: {exc}")
            break
        if len(commitments) != len(commit["tokens"]):
            errors.append(f"row {idx}: {len(commitments)} commitments for {len(commit['tokens'])} tokens")
        if not isinstance(beacon, dict) or "randomness" not in beacon:
            errors.append(f"row {idx}: beacon {beacon!r} lacks randomness")
        if len(commit["rollout"]["token_logprobs"]) != len(commit["tokens"]):
            errors.append(f"row {idx}: token_logprobs length differs from tokens")
        if str(row["window_start"]) != kv.get("window_start"):
            errors.append(f"row {idx}: window_start {row['window_start']} differs from metadata")
        if row["hotkey"] != kv.get("wallet"):
            errors.append(f"row {idx}: hotkey differs from metadata wallet")
        if len(errors) > 20:
            break

    codecs = sorted(
        {
            pf.metadata.row_group(g).column(c).compression
            for g in range(pf.metadata.num_row_groups)
            for c in range(pf.metadata.num_columns)
        }
    )
    print(
        json.dumps(
            {
                "file": args.file,
                "bytes": size,
                "rows": table.num_rows,
                "row_groups": pf.metadata.num_row_groups,
                "codecs": codecs,
                "created_by": pf.metadata.created_by,
                "pyarrow": pa.__version__,
                "arrow_schema_metadata": "ARROW:schema" in kv,
                "ok": not errors,
            }
        )
    )
    if errors:
        print("FAILED:", file=sys.stderr)
        for e in errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    print(str(schema))
    return 0


if __name__ == "__main__":
    sys.exit(main())
