"""What a confined child runs (sandbox_worker.py forks one per job): the validator's semantics for
code tests and its MATH equality strategies, answering through the child's exit status.

A task reads everything it uses into locals before it touches model-written text: code under test
may rebind any global or builtin afterwards (exec, enumerate, …), but it cannot reach a frame.
"""

import json
import os
import signal

MAX_ERROR_CHARS = 2000

# Exit statuses of a child. Code: VERDICT_TESTS | bit k, where the k-th test of the child ran to its
# end. Anything else (a signal, another status) means the child crashed.
VERDICT_TESTS = 0x80
TESTS_PER_CHILD = 7
VERDICT_PASSED = 80  # a start-up probe that finished
VERDICT_TIMED_OUT = 82
VERDICT_EQUAL_SYMPY = 84
VERDICT_EQUAL_FLOAT = 85
VERDICT_NOT_EQUAL = 86
VERDICT_CRASHED = 87
VERDICT_SETUP_FAILED = 88


class TimeoutException(Exception):
    pass


def alarm_handler(signum, frame):
    raise TimeoutException("Test timed out")


def clip(text):
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def report(*fields):
    """A line on descriptor 3: information for the answer, never a verdict."""
    os.write(3, (json.dumps(fields) + "\n").encode("ascii"))


def describe(e):
    try:
        return clip(f"{type(e).__name__}: {e}")
    except Exception:  # noqa: BLE001 - a hostile __str__
        return type(e).__name__


# ----------------------------------------------------------------------------------------------
# code mode: the validator's pool semantics (`_pool_worker_execute`).
_ALLOWED_IMPORTS = frozenset("math itertools functools collections heapq bisect operator re string".split())
_BLOCKED_IMPORTS = frozenset(
    "asyncio builtins ctypes importlib inspect multiprocessing os pathlib posix resource shutil "
    "signal site socket subprocess sys threading types".split()
)
_SAFE_NAMES = (
    "None False True bool int float complex str bytes bytearray list tuple set frozenset dict range "
    "enumerate zip map filter sorted reversed slice abs all any min max sum len round pow divmod chr "
    "ord hex oct bin format repr print isinstance BaseException Exception AssertionError ValueError "
    "TypeError KeyError IndexError StopIteration ZeroDivisionError __build_class__ object type"
).split()


def make_safe_builtins():
    import builtins

    real_import = builtins.__import__

    def safe_import(name, globals_=None, locals_=None, fromlist=(), level=0):
        top = name.split(".")[0]
        if name in _BLOCKED_IMPORTS or top in _BLOCKED_IMPORTS:
            raise ImportError(f"Module '{name}' is not allowed in sandboxed execution")
        if name not in _ALLOWED_IMPORTS and top not in _ALLOWED_IMPORTS:
            raise ImportError(f"Module '{name}' is not allowed in sandboxed execution")
        return real_import(name, globals_, locals_, fromlist, level)

    safe = {name: getattr(builtins, name) for name in _SAFE_NAMES}
    safe["__import__"] = safe_import
    return safe


def compile_status(code):
    """How the validator's parser fares with compile(): ok, syntax (SyntaxError) or other."""
    try:
        compile(code, "<string>", "exec")
        return "ok", None
    except SyntaxError as e:
        return "syntax", clip(str(e))
    except ValueError as e:
        # CPython 3.12 (the validator's) reports NUL bytes as SyntaxError; 3.11 raises ValueError.
        if "null bytes" in str(e):
            return "syntax", clip(str(e))
        return "other", clip(f"{type(e).__name__}: {e}")
    except Exception as e:  # RecursionError, MemoryError, …: the parser's catch-all path
        return "other", clip(f"{type(e).__name__}: {e}")


def tests_in_child(code, tests, timeout):
    """Up to TESTS_PER_CHILD tests, as the reference's worker runs a job's tests: one after the
    other, each in fresh globals, sharing the job's builtins. Failures are described on fd 3."""
    verdict, bit = VERDICT_TESTS, 1
    run, timeout_exc, exc, base_exc = exec, TimeoutException, Exception, BaseException
    tell, explain, alarm = report, describe, signal.alarm
    safe_builtins = make_safe_builtins()
    seconds = int(timeout)
    for test in tests:
        alarm(seconds)
        try:
            run(f"{code}\n\n{test}", {"__builtins__": safe_builtins})
            verdict |= bit
        except timeout_exc:
            tell(bit, "timeout")
        except exc as e:
            tell(bit, "error", explain(e))
        except base_exc as e:
            # The reference lets these escape its worker, so the validator's env step raises:
            # such a completion fails env_eval_valid there. Report it instead of dying.
            tell(bit, "base_exception", explain(e))
            break
        finally:
            alarm(0)
        bit <<= 1
    return verdict


# ----------------------------------------------------------------------------------------------
# math mode: strategies (b) and (c) of `_math_answers_equal` on normalised strings.
def compare_in_child(pred, gold, limit):
    import sympy

    eq_sympy, eq_float, not_equal, timed_out = VERDICT_EQUAL_SYMPY, VERDICT_EQUAL_FLOAT, VERDICT_NOT_EQUAL, VERDICT_TIMED_OUT
    timeout_exc, alarm, simplify, parse_expr = TimeoutException, signal.alarm, sympy.simplify, sympy.parse_expr
    alarm(limit)
    try:
        try:
            if simplify(parse_expr(pred) - parse_expr(gold)) == 0:
                return eq_sympy
        except timeout_exc:
            raise
        except Exception:  # noqa: BLE001, S110 - any failure means "not equal" in the reference
            pass
        try:
            if abs(float(pred) - float(gold)) < 1e-6:
                return eq_float
        except (ValueError, TypeError):
            pass
        return not_equal
    except timeout_exc:
        return timed_out
    finally:
        alarm(0)


MATH_VERDICTS = {
    VERDICT_EQUAL_SYMPY: {"equal": True, "strategy": "sympy"},
    VERDICT_EQUAL_FLOAT: {"equal": True, "strategy": "float"},
    VERDICT_NOT_EQUAL: {"equal": False, "strategy": "none"},
    VERDICT_TIMED_OUT: {"equal": False, "strategy": "timeout"},
}
