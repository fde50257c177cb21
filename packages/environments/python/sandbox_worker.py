"""Sandbox worker used by the miner's code and math environments.

Started by the Node side, one process per pool slot, talking JSON lines: jobs arrive on the
original stdin, answers leave on the original stdout; both are moved to private descriptors.

Two modes:
  code  reproduces the validator's persistent execution pool (restricted builtins and imports,
        fresh globals per test, SIGALRM per test, status rules) so rewards match its numbers;
  math  decides MATH answer equality with sympy (parse_expr + simplify) and float(), the
        strategies the validator uses after its string normalisation.

The worker never runs model-written text itself. Each job's tests (code) or each comparison (math)
run in a child forked for it, which confines itself first (sandbox_confine.confine_child: own
directory, uid 65534 where the worker is root, resource limits, audit hook, the seccomp filter every
process here inherits), runs a task of sandbox_tasks and reports its verdict only as its exit
status. Code under test can neither reach the answer channel nor pick that status: the harness's
exit function is the only one left, and it sits in a frame no code under test can reach. Failure
messages may come on descriptor 3; they are read as text and never decide anything.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves this directory out
import sandbox_confine as confine  # noqa: E402

CONFIG = json.loads(sys.argv[1])
SECCOMP_PROBLEM = confine.reexec_under_filter(CONFIG)  # re-executes this script under the filter
MODE = CONFIG["mode"]
MAX_REPORT_BYTES = 64 << 10

import sandbox_tasks as tasks  # noqa: E402

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
import shutil  # noqa: E402

# Buffered line reader over the private job descriptor.
_reader = io.BufferedReader(_job_in, buffer_size=1 << 16)

# ----------------------------------------------------------------------------------------------
# Everything a child may need is imported here: a child may be unable to read the library (it can
# run as another uid), and it may not load modules.
if MODE == "code":
    # The validator's allow-list, plus what the standard library imports lazily on their behalf.
    import bisect  # noqa: F401
    import collections  # noqa: F401
    import collections.abc  # noqa: F401
    import encodings  # noqa: F401
    import functools  # noqa: F401
    import heapq  # noqa: F401
    import itertools  # noqa: F401
    import math  # noqa: F401
    import operator  # noqa: F401
    import re  # noqa: F401
    import string  # noqa: F401
    import types  # noqa: F401
    import unicodedata  # noqa: F401
    import weakref  # noqa: F401

    for _name in sorted(os.listdir(encodings.__path__[0])):
        if _name.endswith(".py") and _name != "__init__.py":
            try:
                __import__("encodings." + _name[:-3])
            except Exception:  # noqa: BLE001, S110 - codecs of other platforms (mbcs, oem, …)
                pass
elif MODE == "math":
    import struct  # noqa: E402
    import types  # noqa: E402

    # sympy.external.gmpy reads only sizeof(c_long) from ctypes; loading the real module would
    # leave its foreign-function types reachable in every child (see sandbox_confine).
    _ctypes_sizes = types.ModuleType("ctypes")
    _ctypes_sizes.c_long = "l"
    _ctypes_sizes.sizeof = struct.calcsize
    sys.modules["ctypes"] = _ctypes_sizes
    import sympy  # noqa: E402

    del sys.modules["ctypes"]
    # Warm the lazy imports simplify() pulls in, so children find them loaded.
    for _p, _g in (("1/2", "0.5"), ("x+1", "1+x"), ("sqrt(2)", "2**(1/2)"), ("2^3", "8"), ("sin(x)**2+cos(x)**2", "1")):
        sympy.simplify(sympy.parse_expr(_p) - sympy.parse_expr(_g))
else:
    raise SystemExit(f"unknown mode {MODE!r}")
if "_ctypes" in sys.modules:
    raise SystemExit("sandbox worker: the foreign-function module got loaded; children would inherit it")


# ----------------------------------------------------------------------------------------------
# Running untrusted work in a confined child.
def _child_limits():
    return [
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NOFILE", min(int(CONFIG.get("nofile", 256)), confine.EXEC_FD)),
        ("RLIMIT_CPU", int(CONFIG.get("cpu_seconds", 300))),
        ("RLIMIT_FSIZE", int(CONFIG.get("fsize_bytes", 16 << 20))),
        ("RLIMIT_AS", int(CONFIG.get("memory_bytes", 2 << 30))),
        # Ignored by the kernel for root, which the child is not unless no uid could be dropped to.
        ("RLIMIT_NPROC", 0),
    ]


PLAN = {
    "uid": None,
    "limits": _child_limits(),
    "alarm_handler": tasks.alarm_handler,
    "library_roots": sorted(
        {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path) if p}
    ),
}
WORK_DIR = os.getcwd()
_job_serial = 0


def _child_main(report_fd, job_dir, task, args):
    # Everything used after the task starts is a local taken now: code under test can rebind
    # globals and builtins, not the locals of a frame it cannot reach.
    exit_now, setup_failed = os._exit, tasks.VERDICT_SETUP_FAILED
    code = tasks.VERDICT_CRASHED
    try:
        try:
            os.dup2(report_fd, 3)
            confine.confine_child(PLAN, job_dir)
        except BaseException as e:  # noqa: BLE001
            code = setup_failed
            tasks.report("confinement failed", f"{type(e).__name__}: {e}")
            raise
        code = task(*args)
    finally:
        exit_now(code)


def _in_child(job_dir, task, *args):
    """Runs task(*args) in a confined child; returns its exit status (negative: killed by that
    signal) and the lines it wrote on descriptor 3 that parse as JSON lists."""
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:
        os.close(r)
        _child_main(w, job_dir, task, args)
    os.close(w)
    chunks, size = [], 0
    while chunk := os.read(r, 1 << 16):
        if size < MAX_REPORT_BYTES:
            chunks.append(chunk)
            size += len(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    lines = []
    for line in b"".join(chunks)[:MAX_REPORT_BYTES].decode("utf-8", "replace").splitlines():
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        if isinstance(fields, list):
            lines.append(fields)
    return os.waitstatus_to_exitcode(status), lines


def _crash(status, lines):
    how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
    said = [f for f in lines if len(f) == 2 and f[0] == "confinement failed" and isinstance(f[1], str)]
    return f"sandbox child {how}" + (f": confinement failed: {tasks.clip(said[0][1])}" if said else "")


class _JobDir:
    """A fresh directory per job, owned by the uid children run as; removed afterwards."""

    def __enter__(self):
        global _job_serial
        _job_serial += 1
        self.path = os.path.join(WORK_DIR, f"job-{_job_serial}")
        os.mkdir(self.path, 0o700)
        if PLAN["uid"] is not None:
            os.chown(self.path, PLAN["uid"], PLAN["uid"])
        return self.path

    def __exit__(self, *exc):
        try:
            os.rmdir(self.path)  # the usual case, and much cheaper than rmtree
        except OSError:
            shutil.rmtree(self.path, ignore_errors=True)


def _probe(checks_library):
    """Runs in a child at start-up: confined as children will be, it reports what it ended up as."""
    import resource

    unreadable = []
    for root in PLAN["library_roots"] if checks_library else ():
        try:
            os.listdir(root)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError:
            unreadable.append(root)
    limits = [n for n, v in PLAN["limits"] if resource.getrlimit(getattr(resource, n)) == (v, v)]
    tasks.report("probe", {"uid": os.getuid(), "unreadable": unreadable, "rlimits": limits})
    return tasks.VERDICT_PASSED


def _probe_child():
    """What a confined child reports about itself, or (status, lines) if it did not finish."""
    with _JobDir() as job_dir:
        status, lines = _in_child(job_dir, _probe, MODE == "math")
    seen = [f[1] for f in lines if len(f) == 2 and f[0] == "probe" and isinstance(f[1], dict)]
    return (seen[0], None) if status == tasks.VERDICT_PASSED and seen else (None, _crash(status, lines))


def _settle_privileges(layers):
    """Chooses the uid children run as and records why, where it stays the worker's."""
    uid = CONFIG.get("sandbox_uid")
    problem = None
    if uid is None:
        problem = "the miner does not run as root, so children keep its uid"
    elif os.geteuid() != 0:
        problem = f"the worker is not root (uid {os.geteuid()}), so children keep its uid"
    else:
        os.chmod(WORK_DIR, 0o711)  # children reach their own directory by name
        PLAN["uid"] = uid
        seen, failure = _probe_child()
        if seen is None:
            problem = f"children cannot switch to uid {uid}: {failure}"
        elif seen["unreadable"]:
            # sympy imports lazily; a child that cannot read it would judge differently.
            library = min(seen["unreadable"], key=len)
            problem = f"uid {uid} cannot read the Python library under {library}, which sympy imports from"
        if problem is not None:
            PLAN["uid"] = None
    if PLAN["uid"] is None:
        seen, failure = _probe_child()
    if seen is None:
        raise SystemExit(f"sandbox worker: a confined child does not start: {failure}")
    layers["uid"] = seen["uid"]
    layers["rlimits"] = seen["rlimits"]
    if problem is not None:
        layers["privilege_problem"] = problem


# ----------------------------------------------------------------------------------------------
# code mode: the job's tests in one child (more than TESTS_PER_CHILD: one child per chunk).
def _run_code(job):
    code = job["code"]
    tests = job["tests"]
    timeout = float(job.get("timeout", 5.0))
    compile_state, compile_error = tasks.compile_status(code)
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
    with _JobDir() as job_dir:
        for start in range(0, len(tests), tasks.TESTS_PER_CHILD):
            chunk = tuple(str(t) for t in tests[start : start + tasks.TESTS_PER_CHILD])
            status, lines = _in_child(job_dir, tasks.tests_in_child, str(code), chunk, timeout)
            if status & ~0x7F != tasks.VERDICT_TESTS:
                return {"status": "process_error", "error": _crash(status, lines)}
            # Pass bits come from the exit status; the lines only describe failures.
            said = {f[0]: f[1:] for f in lines if len(f) in (2, 3) and isinstance(f[0], int)}
            for k in range(len(chunk)):
                bit, i = 1 << k, start + k
                if status & bit:
                    results.append({"test_idx": i, "passed": True, "error": None})
                    passed += 1
                    continue
                kind, *detail = said.get(bit, ["error", "no failure report from the test's process"])
                error = tasks.clip(detail[0]) if detail and isinstance(detail[0], str) else None
                if kind == "base_exception":
                    return {**base, "passed": passed, "status": "base_exception", "error": error, "test_results": results}
                if kind == "timeout":
                    results.append({"test_idx": i, "passed": False, "error": "Timeout"})
                    timeouts += 1
                else:
                    results.append({"test_idx": i, "passed": False, "error": error})

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
# math mode: one child per comparison.
def _math_equal(job):
    with _JobDir() as job_dir:
        verdict, lines = _in_child(job_dir, tasks.compare_in_child, job["pred"], job["gold"], int(job.get("timeout", 10)))
    if verdict in tasks.MATH_VERDICTS:
        return dict(tasks.MATH_VERDICTS[verdict])
    return {"status": "process_error", "equal": False, "strategy": "crashed", "error": _crash(verdict, lines)}


def main():
    import faulthandler

    faulthandler.disable()
    layers = {"seccomp": SECCOMP_PROBLEM is None, "audit_hook": True}
    if SECCOMP_PROBLEM is not None:
        layers["seccomp_problem"] = SECCOMP_PROBLEM
    # The worker keeps the limits that bound its own work (it must fork, so not NPROC).
    confine.apply_limits([lim for lim in PLAN["limits"] if lim[0] != "RLIMIT_NPROC"])
    _settle_privileges(layers)
    _send({"ready": True, "mode": MODE, "python": sys.version.split()[0], "layers": layers})
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
            result = {"status": "process_error", "error": tasks.clip(f"{type(e).__name__}: {e}")}
        result["id"] = job["id"]
        _send(result)


main()
