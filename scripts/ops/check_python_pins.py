"""Fails unless the installed Python distributions have exactly the pinned versions.

Usage: python check_python_pins.py sglang==0.5.10 transformers==4.57.1 ...
Run at image build time: SGLang's own requirements may pull other versions, and the validators'
numerics depend on the pinned transformers / tokenizers / torch.
"""

import importlib.metadata as metadata
import sys


def main(pins: list[str]) -> int:
    problems = []
    for pin in pins:
        name, sep, wanted = pin.partition("==")
        if not sep:
            print(f"not a name==version pin: {pin}", file=sys.stderr)
            return 2
        try:
            got = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (wanted {wanted})")
            continue
        # Local version labels (torch's +cu128) do not change the release.
        if got.split("+")[0] != wanted:
            problems.append(f"{name} {got} is installed, wanted {wanted}")
        else:
            print(f"{name} {got}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
