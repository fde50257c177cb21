#!/usr/bin/env python3
"""GRAIL proof worker on the reference stack (python3 + torch + transformers).

Speaks the same IPC protocol as the native worker (apps/worker/PROTOCOL.md) on fds 3/4 and
computes proofs the way the reference miner does: HF AutoModelForCausalLM in bf16, SDPA attention
(or the implementation named in load.options.attn), right-padded batches of PROOF_BATCH_SIZE,
base model with use_cache=False, last hidden state (after the final norm) for the sketches,
lm_head logits upcast to fp32 for log-softmax. The pool starts, pins (CUDA_VISIBLE_DEVICES) and
supervises it exactly like the native worker; it serves as the accuracy and speed baseline.

torch and transformers are imported on the first load, so the protocol side runs without them.
"""

from __future__ import annotations

import os
import platform
import queue
import signal
import sys
import threading
import time
from array import array
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grail_ipc as ipc  # noqa: E402

LOG_CHUNK_ROWS = 512


def log(level: str, msg: str, **fields: Any) -> None:
    """One JSON log line on stdout, the format the pool re-emits at its level."""
    import json

    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": level, "msg": msg,
           "component": "proof-worker", "engine": "torch", **fields}
    sys.stdout.write(json.dumps(rec, default=str) + "\n")
    sys.stdout.flush()


class EngineFailure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class TorchEngine:
    """The HF reference forward for proofs: one model, reloaded in place when shapes allow."""

    def __init__(self, model_dir: str, backend: Optional[str], device_index: int, options: Dict[str, Any]):
        try:
            import torch
            import transformers
        except ImportError as e:
            raise EngineFailure("torch_missing", f"the torch worker needs torch and transformers: {e}") from None
        self.torch = torch
        self.transformers = transformers
        if backend == "cpu" or (backend is None and not torch.cuda.is_available()):
            self.device = torch.device("cpu")
        else:
            if not torch.cuda.is_available():
                raise EngineFailure("cuda_unavailable", "CUDA was requested but torch sees no GPU")
            self.device = torch.device(f"cuda:{device_index}")
        self.attn = str(options.get("attn", "sdpa"))
        self.model_dir = model_dir
        self.model = self._load(model_dir)

    def _load(self, model_dir: str):
        torch = self.torch
        # transformers 4.56 renamed torch_dtype to dtype; older versions would take an unknown
        # "dtype" as a config attribute and silently load fp32, so choose by version.
        major, minor = (int(x) for x in self.transformers.__version__.split(".")[:2])
        key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        model = self.transformers.AutoModelForCausalLM.from_pretrained(
            model_dir, attn_implementation=self.attn, **{key: torch.bfloat16}
        )
        if next(model.parameters()).dtype != torch.bfloat16:
            raise EngineFailure("bad_dtype", f"{model_dir} loaded as {next(model.parameters()).dtype}, expected bfloat16")
        return model.to(self.device).eval()

    @property
    def backend(self) -> str:
        return "cuda" if self.device.type == "cuda" else "cpu"

    def describe_device(self) -> str:
        if self.device.type == "cuda":
            return f"cuda:{self.device.index} {self.torch.cuda.get_device_name(self.device)} (torch {self.torch.__version__}, {self.attn})"
        return f"cpu (torch {self.torch.__version__}, {self.attn})"

    def summary(self) -> Dict[str, Any]:
        cfg = self.model.config
        eos = cfg.eos_token_id
        if isinstance(eos, list):
            eos = eos[0] if eos else None
        return {"modelType": cfg.model_type, "hiddenSize": cfg.hidden_size, "numLayers": cfg.num_hidden_layers,
                "vocabSize": cfg.vocab_size, "eosTokenId": eos}

    def reload(self, model_dir: str) -> None:
        torch = self.torch
        new_cfg = self.transformers.AutoConfig.from_pretrained(model_dir)
        old_cfg = self.model.config
        same = all(getattr(new_cfg, k, None) == getattr(old_cfg, k, None) for k in
                   ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                    "num_key_value_heads", "vocab_size", "tie_word_embeddings"))
        if same:
            # In place: copy the new tensors into the existing parameters (no reallocation).
            from safetensors.torch import load_file
            import glob
            files = sorted(glob.glob(os.path.join(model_dir, "*.safetensors")))
            if not files:
                raise EngineFailure("missing_file", f"{model_dir} has no *.safetensors")
            params = dict(self.model.named_parameters())
            seen = set()
            with torch.no_grad():
                for f in files:
                    for name, t in load_file(f).items():
                        p = params.get(name)
                        if p is None:
                            continue
                        if tuple(p.shape) != tuple(t.shape):
                            raise EngineFailure("bad_shape", f"{name}: {tuple(t.shape)} in {f}, model has {tuple(p.shape)}")
                        p.copy_(t.to(p.dtype))
                        seen.add(name)
            missing = [n for n in params if n not in seen and not (n == "lm_head.weight" and old_cfg.tie_word_embeddings)]
            if missing:
                raise EngineFailure("missing_tensor", f"{model_dir} lacks {missing[0]} (and {len(missing) - 1} more)")
        else:
            del self.model
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            self.model = self._load(model_dir)
        self.model_dir = model_dir

    def prove(self, req: Dict[str, Any]) -> Dict[str, Any]:
        torch = self.torch
        t0 = time.perf_counter()
        lengths = list(req["lengths"])
        prompt_lens = list(req["promptLens"])
        flat = req["tokens"]
        vocab = self.model.config.vocab_size
        starts = [0]
        for n in lengths:
            starts.append(starts[-1] + n)
        seqs = [flat[starts[i]:starts[i + 1]].tolist() for i in range(len(lengths))]
        for i, s in enumerate(seqs):
            bad = next((t for t in s if t < 0 or t >= vocab), None)
            if bad is not None:
                raise EngineFailure("invalid_input", f"rollout {i} has token {bad}, outside the vocabulary [0, {vocab})")
        cfg = self.model.config
        pad = cfg.pad_token_id if cfg.pad_token_id is not None else self.summary()["eosTokenId"]
        pad = 0 if pad is None else int(pad)
        eos = self.summary()["eosTokenId"]
        rvec = torch.tensor(ipc.r_vec(req["randomnessHex"]), dtype=torch.int64, device=self.device)

        s_vals = array("I")
        logprobs = array("f")
        eos_probs = array("d")
        with torch.inference_mode():
            for b in range(0, len(seqs), ipc.PROOF_BATCH_SIZE):
                batch = seqs[b:b + ipc.PROOF_BATCH_SIZE]
                width = max(len(s) for s in batch)
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for j, s in enumerate(batch):
                    ids[j, :len(s)] = torch.tensor(s, dtype=torch.long)
                    mask[j, :len(s)] = 1
                ids = ids.to(self.device)
                mask = mask.to(self.device)
                hidden = self.model.model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
                logits = self.model.lm_head(hidden)
                for j, s in enumerate(batch):
                    n = len(s)
                    p = prompt_lens[b + j]
                    s_vals.extend(sketches(torch, hidden[j, :n], rvec).tolist())
                    logprobs.extend(completion_logprobs(torch, logits[j, :n], ids[j, :n], p).tolist())
                    if eos is None:
                        eos_probs.append(float("nan"))
                    else:
                        eos_probs.append(float(torch.softmax(logits[j, n - 2].float(), dim=-1)[eos]))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t1 = time.perf_counter()
        commitments = bytearray()
        bindings = bytearray()
        for i, s in enumerate(seqs):
            sk = s_vals[starts[i]:starts[i + 1]]
            ch = ipc.hash_commitments(sk)
            commitments += ch
            bindings += ipc.commit_binding_from_hash(s, req["randomnessHex"], req["modelName"], req["layerIndex"], ch)
        t2 = time.perf_counter()
        return {
            "proveMs": (t1 - t0) * 1000, "hashMs": (t2 - t1) * 1000, "totalMs": (t2 - t0) * 1000,
            "sVals": s_vals, "logprobs": logprobs, "eosProbs": eos_probs,
            "commitmentsHashes": array("B", bytes(commitments)), "bindingHashes": array("B", bytes(bindings)),
        }


def sketches(torch, h, rvec):
    """Per position: top-16 |h| indices sorted ascending, log-magnitude buckets in float64, dot r_vec mod q."""
    k = min(16, h.shape[-1])
    idx = torch.topk(h.abs(), k, dim=-1).indices
    idx = torch.sort(idx, dim=-1).values
    x = torch.gather(h, -1, idx).double()
    ax = x.abs()
    b = torch.clamp(torch.floor(torch.log2(ax + 1.0) * 0.8), 0, 7)
    b = torch.where(ax < 1e-6, torch.zeros_like(b), b)
    b = torch.where(x < 0, -b, b)
    b = torch.where(torch.isnan(x), torch.zeros_like(b), b)
    dot = (b.to(torch.int64) * rvec[:k]).sum(dim=-1)
    return torch.remainder(dot, ipc.PRIME_Q)


def completion_logprobs(torch, logits, ids, prompt_len):
    """log_softmax(fp32(logits[t-1]))[tokens[t]] for t in [prompt_len, n), in row chunks on the device."""
    n = logits.shape[0]
    out = []
    for start in range(prompt_len - 1, n - 1, LOG_CHUNK_ROWS):
        end = min(start + LOG_CHUNK_ROWS, n - 1)
        lp = torch.log_softmax(logits[start:end].float(), dim=-1)
        out.append(lp.gather(-1, ids[start + 1:end + 1].unsqueeze(-1)).squeeze(-1))
    if not out:
        return torch.empty(0)
    return torch.cat(out).cpu()


class Worker:
    """Protocol state: health and shutdown on the reader thread, load/reload/prove on the main thread."""

    def __init__(self, out_fd: int):
        self.out_fd = out_fd
        self.write_lock = threading.Lock()
        self.engine: Optional[TorchEngine] = None
        self.state = "empty"
        self.checkpoint: Optional[int] = None
        self.jobs = queue.Queue()
        self.busy = False
        self.jobs_done = 0
        self.closing = False
        self.started = time.monotonic()
        self.load_options: Dict[str, Any] = {}

    def send(self, msg: Dict[str, Any]) -> None:
        data = ipc.encode_message(msg)
        with self.write_lock:
            view = memoryview(data)
            while view:
                n = os.write(self.out_fd, view)
                view = view[n:]

    def hello(self) -> None:
        runtime = f"python {platform.python_version()}"
        try:
            import importlib.metadata as md
            runtime += f" torch {md.version('torch')}"
        except Exception:
            runtime += " (torch not installed)"
        self.send({"type": "hello", "protocolVersion": ipc.IPC_PROTOCOL_VERSION, "engine": "torch",
                   "pid": os.getpid(), "runtime": runtime})

    def status(self, rid: int) -> Dict[str, Any]:
        try:
            import resource
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except Exception:
            rss = 0
        return {"type": "status", "id": rid, "state": self.state, "checkpointWindow": self.checkpoint,
                "modelDir": self.engine.model_dir if self.engine else None, "busy": self.busy,
                "queued": self.jobs.qsize(), "jobsDone": self.jobs_done,
                "uptimeMs": (time.monotonic() - self.started) * 1000, "rssBytes": rss}

    def on_frame(self, header: Dict[str, Any], payloads: Dict[str, array]) -> bool:
        """Handles one decoded frame on the reader thread; returns False after shutdown."""
        try:
            req = ipc.parse_request(header, payloads)
        except ipc.MessageError as e:
            self.send(ipc.error_reply(e.request_id, e.code, str(e)))
            return True
        if req["type"] == "health":
            self.send(self.status(req["id"]))
            return True
        if self.closing:
            self.send(ipc.error_reply(req["id"], "shutting_down", "the worker is shutting down"))
            return True
        if req["type"] == "shutdown":
            self.closing = True
            self.send({"type": "bye", "id": req["id"]})
            return False
        self.jobs.put(req)
        return True

    def run_job(self, req: Dict[str, Any]) -> None:
        self.busy = True
        try:
            reply = getattr(self, "do_" + req["type"])(req)
        except Exception as e:  # every request gets a reply
            log("error", "unexpected worker failure", error=repr(e))
            reply = ipc.error_reply(req["id"], "internal", repr(e))
        # Not busy before the reply leaves: a health check answered right after it must say idle.
        self.busy = False
        self.send(reply)

    def do_load(self, req):
        if req["protocolVersion"] != ipc.IPC_PROTOCOL_VERSION:
            return ipc.error_reply(req["id"], "unsupported_version",
                                   f"the parent speaks protocol {req['protocolVersion']}, this worker {ipc.IPC_PROTOCOL_VERSION}")
        t0 = time.perf_counter()
        self.engine = None
        self.checkpoint = None
        self.state = "loading"
        self.load_options = {"backend": req.get("backend"), "device": req.get("device", 0), "options": req.get("options") or {}}
        try:
            self.engine = TorchEngine(req["modelDir"], self.load_options["backend"], self.load_options["device"],
                                      self.load_options["options"])
        except Exception as e:
            self.state = "failed"
            code = e.code if isinstance(e, EngineFailure) else type(e).__name__
            log("error", "model load failed", modelDir=req["modelDir"], error=str(e))
            return ipc.error_reply(req["id"], "load_failed", str(e), {"engineCode": code, "modelDir": req["modelDir"]})
        self.state = "ready"
        self.checkpoint = req["checkpointWindow"]
        ms = (time.perf_counter() - t0) * 1000
        log("info", "model loaded", modelDir=req["modelDir"], device=self.engine.describe_device(), elapsedMs=round(ms))
        return {"type": "loaded", "id": req["id"], "checkpointWindow": self.checkpoint, "modelDir": req["modelDir"],
                "backend": self.engine.backend, "device": self.engine.describe_device(),
                "model": self.engine.summary(), "elapsedMs": ms}

    def do_reload(self, req):
        if self.engine is None:
            return ipc.error_reply(req["id"], "not_loaded", "reload before any successful load; send load first")
        t0 = time.perf_counter()
        self.state = "loading"
        self.checkpoint = None
        try:
            self.engine.reload(req["modelDir"])
        except Exception as e:
            self.state = "failed"
            code = e.code if isinstance(e, EngineFailure) else type(e).__name__
            return ipc.error_reply(req["id"], "reload_failed", str(e), {"engineCode": code, "modelDir": req["modelDir"]})
        self.state = "ready"
        self.checkpoint = req["checkpointWindow"]
        return {"type": "reloaded", "id": req["id"], "checkpointWindow": self.checkpoint, "modelDir": req["modelDir"],
                "elapsedMs": (time.perf_counter() - t0) * 1000}

    def do_prove(self, req):
        if self.engine is None or self.state != "ready" or self.checkpoint is None:
            return ipc.error_reply(req["id"], "not_loaded", f"no model is ready (state {self.state}); send load first")
        if req["checkpointWindow"] != self.checkpoint:
            return ipc.error_reply(req["id"], "stale_checkpoint",
                                   f"the batch is for checkpoint {req['checkpointWindow']}, this worker holds {self.checkpoint}",
                                   {"requested": req["checkpointWindow"], "loaded": self.checkpoint})
        try:
            result = self.engine.prove(req)
        except Exception as e:
            code = e.code if isinstance(e, EngineFailure) else type(e).__name__
            log("warn", "batch failed", id=req["id"], error=str(e))
            return ipc.error_reply(req["id"], "prove_failed", str(e), {"engineCode": code})
        self.jobs_done += 1
        return {"type": "proved", "id": req["id"], "checkpointWindow": self.checkpoint, **result}


def main() -> int:
    try:
        os.fstat(ipc.REQUEST_FD)
        os.fstat(ipc.REPLY_FD)
    except OSError:
        log("error", "file descriptors 3/4 are not open: this worker is started by the proof pool")
        return 2
    # Ctrl-C reaches the whole process group; the coordinator decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    max_frame = int(os.environ.get("GRAIL_WORKER_MAX_FRAME_BYTES") or ipc.DEFAULT_MAX_FRAME_BYTES)
    worker = Worker(ipc.REPLY_FD)
    decoder = ipc.FrameDecoder(max_frame)

    def reader() -> None:
        while True:
            try:
                data = os.read(ipc.REQUEST_FD, 1 << 20)
            except OSError:
                data = b""
            if not data:
                # The parent closed its end (or died): nothing more will be asked, exit now.
                log("info", "proof worker stopping", reason="parent_gone")
                os._exit(0)
            for item in decoder.push(data):
                if item[0] == "error":
                    e = item[1]
                    log("warn", "malformed frame from the parent", code=e.code, error=str(e))
                    worker.send(ipc.error_reply(e.request_id, e.code, str(e)))
                    continue
                if not worker.on_frame(item[1], item[2]):
                    log("info", "proof worker stopping", reason="shutdown")
                    os._exit(0)

    threading.Thread(target=reader, name="ipc-reader", daemon=True).start()
    worker.hello()
    while True:
        worker.run_job(worker.jobs.get())


if __name__ == "__main__":
    sys.exit(main())
