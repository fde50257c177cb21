"""Proof-worker IPC protocol (see apps/worker/PROTOCOL.md) and the protocol hashes a worker returns.

Standard library only: the frame codec, message checks, r_vec, commitments hash and commit
binding are usable (and tested) without torch. Payloads are `array.array` objects; numpy or torch
callers convert with `numpy.frombuffer(arr, dtype)` / `array(typecode, ndarray.tobytes())`.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from array import array
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

IPC_PROTOCOL_VERSION = 1
REQUEST_FD = 3
REPLY_FD = 4
DEFAULT_MAX_FRAME_BYTES = 512 * 1024 * 1024
PAYLOAD_ALIGNMENT = 8
PROOF_BATCH_SIZE = 16
PRIME_Q = 2_147_483_647
COMMIT_DOMAIN = b"grail-commit-v1"

# dtype name -> array typecode (little-endian hosts; sizes checked below)
DTYPES = {"uint8": "B", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}
ELEMENT_BYTES = {"uint8": 1, "int32": 4, "uint32": 4, "float32": 4, "float64": 8}
for _name, _code in DTYPES.items():
    assert array(_code).itemsize == ELEMENT_BYTES[_name], f"array typecode {_code} is not {_name} here"
assert struct.pack("=I", 1) == struct.pack("<I", 1), "the IPC codec supports little-endian hosts only"

ERROR_CODES = (
    "malformed_frame",
    "frame_too_large",
    "invalid_header",
    "unknown_message",
    "invalid_message",
    "unsupported_version",
    "not_loaded",
    "load_failed",
    "reload_failed",
    "prove_failed",
    "stale_checkpoint",
    "shutting_down",
    "internal",
)

# Payload fields of each message type (everything else goes into the JSON header).
PAYLOAD_FIELDS = {
    "prove": {"tokens": "int32", "lengths": "int32", "promptLens": "int32"},
    "proved": {
        "sVals": "uint32",
        "logprobs": "float32",
        "eosProbs": "float64",
        "commitmentsHashes": "uint8",
        "bindingHashes": "uint8",
    },
}


class FrameError(Exception):
    """A frame that cannot be decoded; request_id is set when its header still named one."""

    def __init__(self, code: str, message: str, request_id: Optional[int] = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


class MessageError(Exception):
    """A decoded frame that is not a valid request."""

    def __init__(self, code: str, message: str, request_id: Optional[int] = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


def _dtype_of(a: array) -> str:
    for name, code in DTYPES.items():
        if a.typecode == code:
            return name
    raise TypeError(f"unsupported payload typecode {a.typecode!r}")


def encode_frame(header: Dict[str, Any], payloads: Optional[Dict[str, array]] = None) -> bytes:
    """[u32 LE body length][u32 LE header length][header JSON][payloads], payloads 8-byte aligned."""
    if "payloads" in header:
        raise ValueError('"payloads" is a reserved header key')
    table = []
    blobs = []
    offset = 0
    for name, arr in (payloads or {}).items():
        pad = (-offset) % PAYLOAD_ALIGNMENT
        if pad:
            blobs.append(b"\0" * pad)
            offset += pad
        data = arr.tobytes()
        table.append({"name": name, "dtype": _dtype_of(arr), "byteOffset": offset, "length": len(arr)})
        blobs.append(data)
        offset += len(data)
    hdr = json.dumps({**header, "payloads": table}, separators=(",", ":"), allow_nan=False).encode("utf-8")
    hdr += b" " * ((-(8 + len(hdr))) % PAYLOAD_ALIGNMENT)
    body = 4 + len(hdr) + offset
    if body > 0xFFFFFFFF:
        raise ValueError(f"frame body of {body} bytes exceeds the 4 GiB limit of the length prefix")
    return b"".join([struct.pack("<II", body, len(hdr)), hdr, *blobs])


def _request_id(header: Any) -> Optional[int]:
    if isinstance(header, dict):
        v = header.get("id")
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
    return None


def _read_header(body) -> Tuple[Dict[str, Any], List[Tuple[str, str, int, int]], int, Optional[int]]:
    """Reads and checks the header of a frame body (its payload section may be missing)."""
    if len(body) < 4:
        raise FrameError("malformed_frame", f"frame body of {len(body)} bytes has no header length field")
    (hlen,) = struct.unpack_from("<I", body, 0)
    if hlen > len(body) - 4:
        raise FrameError("malformed_frame", f"header length {hlen} exceeds the {len(body) - 4} bytes left in the frame")
    try:
        parsed = json.loads(body[4 : 4 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FrameError("invalid_header", f"header is not UTF-8 JSON: {e}") from None
    if not isinstance(parsed, dict):
        raise FrameError("invalid_header", "header must be a JSON object")
    rid = _request_id(parsed)
    raw_table = parsed.pop("payloads", [])
    if not isinstance(raw_table, list):
        raise FrameError("invalid_header", "header field payloads must be an array", rid)
    table: List[Tuple[str, str, int, int]] = []
    names = set()
    for entry in raw_table:
        if not isinstance(entry, dict):
            raise FrameError("invalid_header", "a payloads entry is not an object", rid)
        name, dtype = entry.get("name"), entry.get("dtype")
        off, length = entry.get("byteOffset"), entry.get("length")
        if not isinstance(name, str) or not name:
            raise FrameError("invalid_header", "a payload has no name", rid)
        if name in names:
            raise FrameError("invalid_header", f"payload {name} is listed twice", rid)
        names.add(name)
        if dtype not in DTYPES:
            raise FrameError("invalid_header", f"payload {name} has dtype {dtype!r}; allowed: {', '.join(DTYPES)}", rid)
        if not isinstance(off, int) or isinstance(off, bool) or off < 0:
            raise FrameError("invalid_header", f"payload {name} has a bad byteOffset", rid)
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise FrameError("invalid_header", f"payload {name} has a bad length", rid)
        table.append((name, dtype, off, length))
    return parsed, table, hlen, rid


def _described_body_bytes(table: List[Tuple[str, str, int, int]], hlen: int) -> int:
    """Body bytes a frame with this header has: encoders write nothing after the last payload."""
    end = max((off + length * ELEMENT_BYTES[dtype] for _, dtype, off, length in table), default=0)
    return 4 + hlen + end


def decode_frame_body(body: bytes) -> Tuple[Dict[str, Any], Dict[str, array]]:
    """Decodes the bytes after the length prefix into (header without its table, payloads)."""
    parsed, table, hlen, rid = _read_header(body)
    section = memoryview(body)[4 + hlen :]
    payloads: Dict[str, array] = {}
    for name, dtype, off, length in table:
        nbytes = length * ELEMENT_BYTES[dtype]
        if off + nbytes > len(section):
            raise FrameError(
                "malformed_frame",
                f"payload {name} ({nbytes} bytes at {off}) runs past the {len(section)}-byte payload section",
                rid,
            )
        a = array(DTYPES[dtype])
        a.frombytes(section[off : off + nbytes])
        payloads[name] = a
    return parsed, payloads


class FrameDecoder:
    """Incremental decoder: feed bytes, get ("frame", header, payloads) or ("error", FrameError) items.

    A length prefix longer than the frame its header describes is refused as soon as that frame is
    in: waiting for the missing bytes would swallow the frames after it."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES):
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._skip = 0

    def _described(self, body: int) -> Optional[Tuple[int, Optional[int]]]:
        """(body bytes the header describes, request id) once the header is in and readable."""
        if body < 4 or len(self._buf) < 8:
            return None
        (hlen,) = struct.unpack_from("<I", self._buf, 4)
        if hlen > body - 4 or len(self._buf) < 8 + hlen:
            return None
        try:
            _, table, _, rid = _read_header(bytes(self._buf[4 : 8 + hlen]))
        except FrameError:
            return None
        return _described_body_bytes(table, hlen), rid

    def push(self, data: bytes) -> List[tuple]:
        out: List[tuple] = []
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            data = data[n:]
        self._buf += data
        while len(self._buf) >= 4:
            (body,) = struct.unpack_from("<I", self._buf, 0)
            if body > self.max_frame_bytes:
                have = min(body, len(self._buf) - 4)
                del self._buf[: 4 + have]
                self._skip = body - have
                out.append(("error", FrameError("frame_too_large", f"frame of {body} bytes exceeds the {self.max_frame_bytes}-byte limit; it was skipped")))
                if self._skip:
                    break
                continue
            described = self._described(body)
            if described is not None and body > described[0]:
                if len(self._buf) < 4 + described[0]:
                    break
                del self._buf[: 4 + described[0]]
                out.append(("error", FrameError(
                    "malformed_frame",
                    f"length prefix says {body} bytes but the header describes {described[0]}; "
                    "the frame was dropped and decoding goes on after it",
                    described[1],
                )))
                continue
            if len(self._buf) < 4 + body:
                break
            frame = bytes(self._buf[4 : 4 + body])
            del self._buf[: 4 + body]
            try:
                header, payloads = decode_frame_body(frame)
                out.append(("frame", header, payloads))
            except FrameError as e:
                out.append(("error", e))
        return out


# ---- messages ----------------------------------------------------------------------------------

_INT = "int"
_REQUEST_FIELDS = {
    "load": {"id": "id", "protocolVersion": _INT, "modelDir": "str", "checkpointWindow": _INT,
             "backend": "str?", "device": "int?", "threads": "int?", "options": "obj?"},
    "reload": {"id": "id", "modelDir": "str", "checkpointWindow": _INT},
    "prove": {"id": "id", "checkpointWindow": _INT, "randomnessHex": "str", "modelName": "str",
              "layerIndex": _INT, "groupSizes": "ints"},
    "health": {"id": "id"},
    "shutdown": {"id": "id"},
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check(kind: str, v: Any) -> bool:
    base = kind.rstrip("?")
    if base == "id":
        return _is_int(v) and v >= 0
    if base == "int":
        return _is_int(v)
    if base == "str":
        return isinstance(v, str)
    if base == "obj":
        return isinstance(v, dict)
    if base == "ints":
        return isinstance(v, list) and all(_is_int(x) for x in v)
    raise AssertionError(kind)


def parse_request(header: Dict[str, Any], payloads: Dict[str, array]) -> Dict[str, Any]:
    """Validates a decoded frame as a request; returns a dict with header fields and payloads."""
    rid = _request_id(header)
    kind = header.get("type")
    if not isinstance(kind, str) or kind not in _REQUEST_FIELDS:
        raise MessageError("unknown_message", f"unknown request message type {json.dumps(kind)}; expected one of {', '.join(_REQUEST_FIELDS)}", rid)
    msg: Dict[str, Any] = {"type": kind}
    for name, spec in _REQUEST_FIELDS[kind].items():
        v = header.get(name)
        if v is None:
            if spec.endswith("?"):
                continue
            raise MessageError("invalid_message", f"{kind}: field {name} is missing", rid)
        if not _check(spec, v):
            raise MessageError("invalid_message", f"{kind}: field {name} has the wrong type ({json.dumps(v)})", rid)
        msg[name] = v
    for name, dtype in PAYLOAD_FIELDS.get(kind, {}).items():
        a = payloads.get(name)
        if a is None:
            raise MessageError("invalid_message", f"{kind}: payload {name} is missing", rid)
        if a.typecode != DTYPES[dtype]:
            raise MessageError("invalid_message", f"{kind}: payload {name} must be {dtype}, got {_dtype_of(a)}", rid)
        msg[name] = a
    if kind == "load" and msg.get("backend") not in (None, "cpu", "cuda"):
        raise MessageError("invalid_message", f'load: backend must be "cpu" or "cuda", got {msg["backend"]}', rid)
    if kind == "prove":
        problem = prove_request_problem(msg)
        if problem:
            raise MessageError("invalid_message", f"prove: {problem}", rid)
    return msg


def prove_request_problem(req: Dict[str, Any]) -> Optional[str]:
    lengths, prompt_lens, tokens = req["lengths"], req["promptLens"], req["tokens"]
    n = len(lengths)
    if len(prompt_lens) != n:
        return f"promptLens has {len(prompt_lens)} entries for {n} rollouts"
    if any(g < 1 for g in req["groupSizes"]):
        return "every group size must be at least 1"
    if sum(req["groupSizes"]) != n:
        return f"groupSizes add up to {sum(req['groupSizes'])} rollouts, lengths has {n}"
    for i in range(n):
        if lengths[i] < 2:
            return f"rollout {i} has {lengths[i]} tokens; a rollout needs at least 2"
        if prompt_lens[i] < 1 or prompt_lens[i] > lengths[i]:
            return f"rollout {i}: promptLen {prompt_lens[i]} must be in [1, {lengths[i]}]"
    if sum(lengths) != len(tokens):
        return f"lengths add up to {sum(lengths)} tokens, tokens has {len(tokens)}"
    if not _HEX.fullmatch(req["randomnessHex"]):
        return "randomnessHex must be a hex string"
    return None


def encode_message(msg: Dict[str, Any]) -> bytes:
    spec = PAYLOAD_FIELDS.get(msg["type"], {})
    header = {k: v for k, v in msg.items() if k not in spec}
    payloads = {k: msg[k] for k in spec}
    return encode_frame(header, payloads)


def error_reply(rid: Optional[int], code: str, message: str, details: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    assert code in ERROR_CODES, code
    reply: Dict[str, Any] = {"type": "error", "id": rid, "code": code, "message": message}
    if details:
        reply["details"] = details
    return reply


# ---- protocol hashes (spec protocol.md §2, §4) ---------------------------------------------------

_HEX = re.compile(r"(0[xX])?[0-9a-fA-F]+")


def normalize_hex(s: str) -> bytes:
    """Trim, drop every 0x/0X, left-pad odd length with 0, decode (protocol §2.1)."""
    t = s.strip().replace("0x", "").replace("0X", "")
    if len(t) % 2:
        t = "0" + t
    return bytes.fromhex(t)


def r_vec(randomness_hex: str) -> List[int]:
    """The 16 sketch coefficients (protocol §2.4), numpy's int16 abs quirk included."""
    raw = hashlib.shake_256(b"sketch" + b"||" + normalize_hex(randomness_hex)).digest(32)
    out = []
    for (v,) in struct.iter_unpack(">h", raw):
        out.append(0 if v == -32768 else (abs(v) % 255) - 127)
    return out


def hash_tokens(tokens: Iterable[int]) -> bytes:
    return hashlib.sha256(b"".join(struct.pack(">I", t & 0xFFFFFFFF) for t in tokens)).digest()


def canonical_commitments_json(sketches: Sequence[int]) -> str:
    return "[" + ",".join('{"sketch":%d}' % int(s) for s in sketches) + "]"


def hash_commitments(sketches: Sequence[int]) -> bytes:
    return hashlib.sha256(canonical_commitments_json(sketches).encode("utf-8")).digest()


def commit_binding_from_hash(tokens: Iterable[int], randomness_hex: str, model_name: str, layer_index: int,
                             commitments_hash: bytes) -> bytes:
    parts = [
        hash_tokens(tokens),
        normalize_hex(randomness_hex),
        model_name.encode("utf-8"),
        struct.pack(">i", layer_index),
        commitments_hash,
    ]
    h = hashlib.sha256(COMMIT_DOMAIN)
    for p in parts:
        h.update(struct.pack(">I", len(p)))
        h.update(p)
    return h.digest()


def commit_binding(tokens: Sequence[int], randomness_hex: str, model_name: str, layer_index: int,
                   sketches: Sequence[int]) -> bytes:
    return commit_binding_from_hash(tokens, randomness_hex, model_name, layer_index, hash_commitments(sketches))
