#!/usr/bin/env python3
"""Prompt-id goldens for packages/generation, produced with python transformers.

For every message set x template render in packages/generation/test/fixtures/prompt-cases.json this
records exactly what miner and validator compute in Python:

    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=..., **kwargs)
    ids  = tokenizer(text, return_attention_mask=False)["input_ids"]   # add_special_tokens=True

The TypeScript tokenizer (HF tokenizers + @huggingface/jinja) must reproduce `text` and `ids` byte for
byte (packages/generation/test/prompt-goldens.test.ts).

Usage (on a machine with transformers; no network needed):
    python3 scripts/generation/make_prompt_goldens.py \
        --tokenizer-dir <dir with tokenizer.json + tokenizer_config.json> \
        --cases packages/generation/test/fixtures/prompt-cases.json \
        --out packages/generation/test/fixtures/prompt-goldens.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

# Transcribed independently from the protocol text (spec environments.md section 3.3); the TS constant
# must hash to the same value, which the golden test checks.
INSTRUCTED_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_tokenizer(tokenizer_dir: str):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    try:
        return AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    except Exception as error:  # older/newer class registries: the fast tokenizer is what both sides run
        print(f"AutoTokenizer failed ({error}); using PreTrainedTokenizerFast", file=sys.stderr)
        with open(os.path.join(tokenizer_dir, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        keep = {k: config[k] for k in ("eos_token", "pad_token", "bos_token", "unk_token", "clean_up_tokenization_spaces") if k in config}
        return PreTrainedTokenizerFast(tokenizer_file=os.path.join(tokenizer_dir, "tokenizer.json"), **keep)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer-dir", required=True)
    parser.add_argument("--cases", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import tokenizers
    import transformers

    with open(args.cases, encoding="utf-8") as f:
        spec = json.load(f)
    cases_dir = os.path.dirname(os.path.abspath(args.cases))
    with open(os.path.join(args.tokenizer_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        tokenizer_config = json.load(f)

    tok = load_tokenizer(args.tokenizer_dir)

    templates: dict[str, str] = {}
    for name, source in spec["templates"].items():
        kind = source["source"]
        if kind == "protocol":
            templates[name] = INSTRUCTED_CHAT_TEMPLATE
        elif kind == "tokenizer_config":
            templates[name] = tokenizer_config["chat_template"]
        elif kind == "file":
            with open(os.path.join(cases_dir, source["file"]), encoding="utf-8") as f:
                templates[name] = f.read()
        else:
            raise SystemExit(f"unknown template source {kind!r} for {name}")

    cases = []
    failures = 0
    for message_set in spec["messageSets"]:
        add_generation_prompt = message_set.get("addGenerationPrompt", True)
        for render in spec["renders"]:
            name = render["template"]
            kwargs = render.get("kwargs", {})
            case = {
                "id": f"{message_set['id']}/{name}/{json.dumps(kwargs, sort_keys=True)}",
                "messageSet": message_set["id"],
                "template": name,
                "kwargs": kwargs,
                "addGenerationPrompt": add_generation_prompt,
            }
            try:
                text = tok.apply_chat_template(
                    message_set["messages"],
                    tokenize=False,
                    add_generation_prompt=add_generation_prompt,
                    chat_template=templates[name],
                    **kwargs,
                )
                ids = tok(text, return_attention_mask=False)["input_ids"]
                case["text"] = text
                case["ids"] = list(map(int, ids))
                case["decoded"] = tok.decode(ids, skip_special_tokens=False)
            except Exception as error:  # recorded, so one odd case does not hide the others
                failures += 1
                case["error"] = f"{type(error).__name__}: {error}"
            cases.append(case)

    goldens = {
        "generator": "scripts/generation/make_prompt_goldens.py",
        "python": sys.version.split()[0],
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "tokenizerClass": type(tok).__name__,
        "tokenizerJsonSha256": sha256_file(os.path.join(args.tokenizer_dir, "tokenizer.json")),
        "eosTokenId": tok.eos_token_id,
        "templateSha256": {name: sha256_text(src) for name, src in templates.items()},
        "cases": cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(goldens, f, indent=1, ensure_ascii=True)
        f.write("\n")
    print(
        f"wrote {len(cases)} cases ({failures} failed) to {args.out} with transformers {transformers.__version__}, "
        f"tokenizers {tokenizers.__version__}, {type(tok).__name__}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
