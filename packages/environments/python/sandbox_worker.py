"""Sandboxed Python worker used by the miner's code and math environments.

Started by the Node side, one process per pool slot, talking JSON lines: jobs arrive on the
original stdin, results leave on the original stdout; both are moved to private descriptors so
that code under test sees /dev/null instead.

Two modes:
  code  reproduces the validator's persistent execution pool (restricted builtins and imports,
        fresh globals per test, SIGALRM per test, status rules) so rewards match its numbers;
  math  decides MATH answer equality with sympy (parse_expr + simplify) and float(), the
        strategies the validator uses after its string normalisation.

Both modes harden the process before touching untrusted text: resource limits, a seccomp filter
(no fork/exec/threads, sockets, signals to other processes, ptrace or namespace changes), an audit
hook (no writes outside the working directory, no reads outside Python's own trees, no sockets,
ctypes, process spawning, environment or directory changes), and whatever the parent adds
(network namespace, throw-away working directory, clean environment).

The file stays whole (over 400 lines): the launcher runs it as one script, and the hardening order
(limits, seccomp, audit hook, then untrusted input) is easiest to check when it reads top to bottom.
"""

import json
import os
import signal
import sys

CONFIG = json.loads(sys.argv[1])
MODE = CONFIG["mode"]
MAX_ERROR_CHARS = 2000

# ----------------------------------------------------------------------------------------------
# Private protocol channel: keep the pipes on new descriptors, point 0/1 at /dev/null.
_job_in = os.fdopen(os.dup(0), "rb", buffering=0)
_result_out = os.fdopen(os.dup(1), "wb", buffering=0)
_devnull = os.open(os.devnull, os.O_RDWR)
os.dup2(_devnull, 0)
os.dup2(_devnull, 1)
sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
sys.stdout = open(os.devnull, "w")  # noqa: SIM115


def _send(obj):
    _result_out.write((json.dumps(obj) + "\n").encode("utf-8"))


import io  # noqa: E402

# Buffered line reader over the private job descriptor.
_reader = io.BufferedReader(_job_in, buffer_size=1 << 16)

# ----------------------------------------------------------------------------------------------
# Mode-specific imports happen before hardening, while the file system is still readable.
if MODE == "code":
    # The validator's allow-list; importing them now means user code never needs the file system.
    import bisect  # noqa: F401
    import collections  # noqa: F401
    import collections.abc  # noqa: F401
    import functools  # noqa: F401
    import heapq  # noqa: F401
    import itertools  # noqa: F401
    import math  # noqa: F401
    import operator  # noqa: F401
    import re  # noqa: F401
    import string  # noqa: F401
elif MODE == "math":
    import sympy  # noqa: E402

    # Warm the lazy imports simplify() pulls in, so they are not first read after hardening.
    for _p, _g in (("1/2", "0.5"), ("x+1", "1+x"), ("sqrt(2)", "2**(1/2)"), ("2^3", "8"), ("sin(x)**2+cos(x)**2", "1")):
        sympy.simplify(sympy.parse_expr(_p) - sympy.parse_expr(_g))
else:
    raise SystemExit(f"unknown mode {MODE!r}")

import resource  # noqa: E402

LAYERS = {}


def _set_limit(name, value):
    try:
        resource.setrlimit(getattr(resource, name), (value, value))
        return True
    except (ValueError, OSError):
        return False


def _apply_rlimits():
    applied = []
    for name, value in (
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NOFILE", int(CONFIG.get("nofile", 256))),
        ("RLIMIT_CPU", int(CONFIG.get("cpu_seconds", 300))),
        ("RLIMIT_FSIZE", int(CONFIG.get("fsize_bytes", 16 << 20))),
        ("RLIMIT_AS", int(CONFIG.get("memory_bytes", 2 << 30))),
        # Ignored by the kernel for root; the seccomp filter below is what stops forks there.
        ("RLIMIT_NPROC", 0),
    ):
        if _set_limit(name, value):
            applied.append(name)
    LAYERS["rlimits"] = applied


# ----------------------------------------------------------------------------------------------
# seccomp: a classic BPF filter installed through prctl. Denied calls fail with EPERM (ENOSYS for
# clone3 so libc falls back to clone, which is denied too); a foreign syscall ABI kills the process.
_DENIED = {
    "x86_64": (
        0xC000003E,
        True,
        {
            56: 1, 57: 1, 58: 1, 59: 1, 322: 1, 435: 38,  # clone fork vfork execve execveat clone3
            41: 1, 53: 1, 42: 1, 43: 1, 49: 1, 50: 1, 288: 1,  # sockets
            62: 1, 200: 1, 234: 1, 129: 1, 297: 1, 424: 1,  # kill tkill tgkill sigqueue pidfd_send_signal
            101: 1, 310: 1, 311: 1,  # ptrace process_vm_*
            272: 1, 308: 1, 165: 1, 166: 1, 155: 1, 161: 1,  # unshare setns mount umount2 pivot_root chroot
            321: 1, 298: 1, 250: 1, 248: 1, 249: 1, 425: 1, 426: 1, 427: 1, 323: 1,
            169: 1, 246: 1, 320: 1, 175: 1, 313: 1, 176: 1, 167: 1, 168: 1, 103: 1,
            133: 1, 259: 1, 303: 1, 304: 1,
        },
    ),
    "aarch64": (
        0xC00000B7,
        False,
        {
            220: 1, 221: 1, 281: 1, 435: 38,
            198: 1, 199: 1, 203: 1, 202: 1, 200: 1, 201: 1, 242: 1,
            129: 1, 130: 1, 131: 1, 138: 1, 240: 1, 424: 1,
            117: 1, 270: 1, 271: 1,
            97: 1, 268: 1, 40: 1, 39: 1, 41: 1, 51: 1,
            280: 1, 241: 1, 219: 1, 217: 1, 218: 1, 425: 1, 426: 1, 427: 1, 282: 1,
            142: 1, 104: 1, 294: 1, 105: 1, 273: 1, 106: 1, 224: 1, 225: 1, 116: 1,
            33: 1, 264: 1, 265: 1,
        },
    ),
}


def _install_seccomp():
    import platform
    import struct

    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if sys.platform != "linux" or machine not in _DENIED:
        return f"unsupported platform {sys.platform}/{machine}"
    import ctypes

    audit_arch, has_x32, denied = _DENIED[machine]

    def stmt(code, k):
        return struct.pack("=HBBI", code, 0, 0, k)

    def jump(code, k, jt, jf):
        return struct.pack("=HBBI", code, jt, jf, k)

    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    kill_process, ret_errno, allow = 0x80000000, 0x00050000, 0x7FFF0000
    prog = [stmt(ld_abs, 4), jump(jeq, audit_arch, 1, 0), stmt(ret, kill_process), stmt(ld_abs, 0)]
    if has_x32:
        prog += [jump(jge, 0x40000000, 0, 1), stmt(ret, ret_errno | 1)]
    for nr, err in sorted(denied.items()):
        prog += [jump(jeq, nr, 0, 1), stmt(ret, ret_errno | err)]
    prog.append(stmt(ret, allow))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    code = ctypes.create_string_buffer(b"".join(prog))
    fprog = SockFprog(len(prog), ctypes.cast(code, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    if prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return f"PR_SET_NO_NEW_PRIVS failed (errno {ctypes.get_errno()})"
    if prctl(22, 2, ctypes.addressof(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return f"seccomp filter refused (errno {ctypes.get_errno()})"
    # Leave no ready-made foreign-function module lying around for code under test.
    for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
        del sys.modules[name]
    return None


# ----------------------------------------------------------------------------------------------
# Audit hook (PEP 578): cannot be removed once added; blocks what the filter cannot see by path.
_DENY_IMPORTS = frozenset(
    "ctypes _ctypes socket _socket subprocess _posixsubprocess multiprocessing _multiprocessing pty "
    "sqlite3 _sqlite3 dbm _dbm _gdbm ssl _ssl asyncio _asyncio urllib http ftplib smtplib telnetlib "
    "webbrowser xmlrpc socketserver mmap fcntl _xxsubinterpreters tkinter _tkinter".split()
)
_DENY_EVENTS = frozenset(
    "os.system os.fork os.forkpty os.kill os.killpg signal.pthread_kill os.putenv os.unsetenv "
    "os.chdir os.fchdir os.chmod os.chown os.chflags os.lchflags os.link os.symlink os.mkdir "
    "os.remove os.rename os.rmdir os.truncate os.utime os.setxattr os.removexattr "
    "resource.setrlimit resource.prlimit gc.get_objects gc.get_referrers gc.get_referents "
    "sys._current_frames builtins.input pdb.Pdb".split()
)
_DENY_PREFIXES = ("socket.", "ctypes.", "subprocess.", "os.exec", "os.posix_spawn", "os.spawn",
                  "shutil.", "sqlite3.", "_winapi.", "winreg.", "msvcrt.", "webbrowser.")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _install_audit_hook(work_dir):
    realpath = os.path.realpath
    fsdecode = os.fsdecode
    sep = os.sep
    work = realpath(work_dir)
    roots = {work, "/dev/null", "/dev/urandom"}
    for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]:
        if p:
            roots.add(realpath(p))
    read_roots = tuple(sorted(roots))

    def under(path, prefixes):
        return any(path == r or path.startswith(r if r.endswith(sep) else r + sep) for r in prefixes)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if path is None or isinstance(path, int):
                return
            full = realpath(fsdecode(path))
            writing = bool((flags or 0) & _WRITE_FLAGS) or (
                isinstance(mode, str) and any(c in mode for c in "wax+")
            )
            if writing:
                if not under(full, (work,)):
                    raise PermissionError(f"sandbox: writing {full} is not allowed")
            elif not under(full, read_roots):
                raise PermissionError(f"sandbox: reading {full} is not allowed")
        elif event == "import":
            name = args[0] or ""
            if name in _DENY_IMPORTS or name.split(".")[0] in _DENY_IMPORTS:
                raise ImportError(f"sandbox: import of {name} is not allowed")
        elif event in _DENY_EVENTS or event.startswith(_DENY_PREFIXES):
            raise PermissionError(f"sandbox: {event} is not allowed")

    sys.addaudithook(hook)


def _harden():
    import faulthandler

    faulthandler.disable()
    seccomp_problem = _install_seccomp() if CONFIG.get("seccomp", True) else "disabled"
    LAYERS["seccomp"] = seccomp_problem is None
    if seccomp_problem is not None:
        LAYERS["seccomp_problem"] = seccomp_problem
    _apply_rlimits()
    _install_audit_hook(os.getcwd())
    LAYERS["audit_hook"] = True
    # The validator's worker initializer: the same functions disabled, so behaviour matches.
    import builtins

    builtins.exit = None
    builtins.quit = None
    for name in (
        "kill system putenv remove removedirs rmdir fchdir setuid fork forkpty killpg rename renames "
        "truncate replace unlink fchmod fchown chmod chown chroot lchown"
    ).split():
        if hasattr(os, name):
            setattr(os, name, None)


# ----------------------------------------------------------------------------------------------
# code mode: the validator's pool semantics (`_pool_worker_execute`).
class TimeoutException(Exception):
    pass


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


def _make_safe_builtins():
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


def _alarm_handler(signum, frame):
    raise TimeoutException("Test timed out")


def _clip(text):
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def _compile_status(code):
    """How the validator's parser fares with compile(): ok, syntax (SyntaxError) or other."""
    try:
        compile(code, "<string>", "exec")
        return "ok", None
    except SyntaxError as e:
        return "syntax", _clip(str(e))
    except ValueError as e:
        # CPython 3.12 (the validator's) reports NUL bytes as SyntaxError; 3.11 raises ValueError.
        if "null bytes" in str(e):
            return "syntax", _clip(str(e))
        return "other", _clip(f"{type(e).__name__}: {e}")
    except Exception as e:  # RecursionError, MemoryError, …: the parser's catch-all path
        return "other", _clip(f"{type(e).__name__}: {e}")


def _run_code(job):
    code = job["code"]
    tests = job["tests"]
    timeout = float(job.get("timeout", 5.0))
    compile_state, compile_error = _compile_status(code)
    base = {"compile": compile_state, "total": len(tests), "test_results": []}
    if compile_state != "ok":
        return {**base, "passed": 0, "status": "syntax_error", "error": compile_error}
    if not job.get("run", True):
        return {**base, "passed": 0, "status": "not_run", "error": None}
    if not tests:
        return {**base, "passed": 0, "total": 0, "status": "all_passed", "error": None}

    results = []
    passed = 0
    timeouts = 0
    safe_builtins = _make_safe_builtins()  # shared by the job's tests, as in the reference
    for i, test in enumerate(tests):
        full_code = f"{code}\n\n{test}"
        old_handler = signal.signal(signal.SIGALRM, _alarm_handler)
        signal.alarm(int(timeout))
        try:
            exec(full_code, {"__builtins__": safe_builtins})  # noqa: S102 - the sandbox's purpose
            results.append({"test_idx": i, "passed": True, "error": None})
            passed += 1
        except TimeoutException:
            results.append({"test_idx": i, "passed": False, "error": "Timeout"})
            timeouts += 1
        except Exception as e:  # noqa: BLE001
            results.append({"test_idx": i, "passed": False, "error": _clip(f"{type(e).__name__}: {e}")})
        except BaseException as e:  # noqa: BLE001
            # The reference lets these escape its worker, so the validator's env step raises:
            # such a completion fails env_eval_valid there. Report it instead of dying.
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old_handler)
            return {
                **base,
                "passed": passed,
                "status": "base_exception",
                "error": _clip(f"{type(e).__name__}: {e}"),
                "test_results": results,
            }
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old_handler)

    if passed == len(tests):
        status = "all_passed"
    elif passed > 0:
        status = "some_failed"
    elif timeouts == len(tests):
        status = "timeout"
    else:
        status = "error"
    return {
        **base,
        "passed": passed,
        "status": status,
        "error": None if status == "all_passed" else f"Passed {passed}/{len(tests)} tests",
        "test_results": results,
    }


# ----------------------------------------------------------------------------------------------
# math mode: strategies (b) and (c) of `_math_answers_equal` on normalised strings.
def _math_equal(job):
    pred = job["pred"]
    gold = job["gold"]
    limit = int(job.get("timeout", 10))
    old_handler = signal.signal(signal.SIGALRM, _alarm_handler)
    signal.alarm(limit)
    try:
        try:
            if sympy.simplify(sympy.parse_expr(pred) - sympy.parse_expr(gold)) == 0:
                return {"equal": True, "strategy": "sympy"}
        except TimeoutException:
            raise
        except Exception:  # noqa: BLE001 - any failure means "not equal" in the reference
            pass
        try:
            if abs(float(pred) - float(gold)) < 1e-6:
                return {"equal": True, "strategy": "float"}
        except (ValueError, TypeError):
            pass
        return {"equal": False, "strategy": "none"}
    except TimeoutException:
        return {"equal": False, "strategy": "timeout"}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_handler)


def main():
    _harden()
    _send({"ready": True, "mode": MODE, "python": sys.version.split()[0], "layers": LAYERS})
    handler = _run_code if MODE == "code" else _math_equal
    while True:
        line = _reader.readline()
        if not line:
            return
        job = json.loads(line)
        try:
            result = handler(job)
        except MemoryError:
            result = {"status": "process_error", "error": "MemoryError in worker"}
        except Exception as e:  # noqa: BLE001 - keep the worker alive; the parent decides
            result = {"status": "process_error", "error": _clip(f"{type(e).__name__}: {e}")}
        result["id"] = job["id"]
        _send(result)


main()
