import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CodeRunResult, CodeSandbox } from "../src/index.js";
import { TEST_PYTHON } from "./python.js";
import { ESCAPE } from "./sandbox-escape.js";

// A wrong solution: every test below fails unless the result is forged.
const WRONG = "def add(a, b):\n    return 0";
const TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4"];

/** The answer line a forger wants the miner to read: every test of `job` passed. */
const FORGED = `
def _forged(job):
    n = len(job["tests"])
    return {"id": job["id"], "status": "all_passed", "passed": n, "total": n, "compile": "ok",
            "error": None, "test_results": [{"test_idx": i, "passed": True, "error": None} for i in range(n)]}
`;

/** Walks from frame `f` to the frame holding the current job (its id is what the miner checks). */
const FIND_JOB = `
def _job_from(f):
    while "job" not in f.f_locals:
        f = f.f_back
    return f.f_locals["job"]
`;

const ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

function expectFailed(r: CodeRunResult): void {
  expect(r.passed).toBe(0);
  expect(r.status).not.toBe("all_passed");
  expect(r.testResults.every((t) => !t.passed)).toBe(true);
}

describe("model-written code cannot forge its own test result", () => {
  const sandbox = new CodeSandbox({
    python: TEST_PYTHON,
    workers: 1,
    testTimeoutSeconds: 2,
    jobSlackSeconds: 5,
  });
  beforeAll(() => sandbox.start());
  afterAll(() => sandbox.close());

  it("object-graph escape, frame walk to the job id, the worker's own send function", async () => {
    const attack = `${ESCAPE}${FIND_JOB}${FORGED}
_sys.modules["__main__"]._send(_forged(_job_from(_sys._getframe())))
${WRONG}`;
    expectFailed(await sandbox.run(attack, TESTS));
  });

  it("traceback frame to the job id, raw os.write of the answer on every descriptor", async () => {
    const attack = `${ESCAPE}${FIND_JOB}${FORGED}
def _tb_frame():
    try:
        raise ValueError("x")
    except ValueError as e:
        return e.__traceback__.tb_frame
_line = (_sys.modules["json"].dumps(_forged(_job_from(_tb_frame()))) + "\\n").encode()
for _fd in range(3, 64):
    try:
        _posix.write(_fd, _line)
    except Exception:
        pass
${WRONG}`;
    expectFailed(await sandbox.run(attack, TESTS));
  });

  it("builtins module through len.__self__, a running generator's frame, the worker's result stream", async () => {
    const attack = `_b = len.__self__
_sys = _b.__import__("sys")
${FIND_JOB}${FORGED}
def _frames():
    yield _gen.gi_frame.f_back
_gen = _frames()
_m = _sys.modules["__main__"]
_m._result_out.write((_m.json.dumps(_forged(_job_from(_b.next(_gen)))) + "\\n").encode())
${WRONG}`;
    expectFailed(await sandbox.run(attack, TESTS));
  });

  it("ending the process with the harness's own 'passed' status does not count as passing", async () => {
    // The status that means "every test passed" is public; no way to exit with it may be reachable.
    const attack = `${ESCAPE}
_bi = _sys.modules["builtins"]
_tasks = _sys.modules.get("sandbox_tasks")
_code = (0 if _tasks is None else _tasks.VERDICT_TESTS) | 0x7F
_os = _sys.modules["os"]
for _exit in (_posix.__dict__.get("_exit"), _os.__dict__.get("_exit")):
    if _exit is not None:
        _exit(_code)
try:
    _f = _sys._getframe()
    while _f is not None:
        for _v in _f.f_locals.values():
            if _bi.callable(_v) and _bi.getattr(_v, "__name__", "") == "_exit":
                _v(_code)
        _f = _f.f_back
except Exception:
    pass
raise _bi.SystemExit(_code)
${WRONG}`;
    const r = await sandbox.run(attack, TESTS);
    expect(r.passed).toBe(0);
    expect(r.status).not.toBe("all_passed");
  });

  it("rebinding the interpreter's exec during one test does not pass the tests after it", async () => {
    const attack = `len.__self__.exec = lambda *args, **kwargs: None\n${WRONG}`;
    expectFailed(await sandbox.run(attack, TESTS));
  });

  it("an honest solution after the attacks still passes", async () => {
    const r = await sandbox.run("def add(a, b):\n    return a + b", TESTS);
    expect([r.status, r.passed, r.total]).toEqual(["all_passed", 2, 2]);
  });
});

describe("the file system outside the sandbox directory is out of reach", () => {
  const sandbox = new CodeSandbox({
    python: TEST_PYTHON,
    workers: 1,
    testTimeoutSeconds: 2,
    jobSlackSeconds: 5,
  });
  beforeAll(() => sandbox.start());
  afterAll(() => sandbox.close());

  const refused = async (body: string) => {
    const r = await sandbox.run(`${ESCAPE}\ndef f():\n    return ${body}`, ["f()"]);
    expect([body, r.status, r.testResults[0]?.error]).toEqual([
      body,
      "error",
      expect.stringMatching(/^PermissionError: /),
    ]);
  };

  it("listing directories outside it is refused", async () => {
    await refused('_posix.listdir("/")');
    await refused('list(_posix.scandir("/etc"))');
  });

  it("stat, lstat, access and readlink outside it are refused", async () => {
    await refused('_posix.stat("/etc/hostname")');
    await refused('_posix.lstat("/")');
    await refused('_posix.access("/etc/passwd", 4)');
    await refused('_posix.readlink("/etc")');
    const exists = await sandbox.run(
      `${ESCAPE}\ndef f():\n    return _sys.modules["os"].path.exists("/etc")`,
      ["assert f() is False"],
    );
    expect(exists.status).toBe("all_passed");
  });

  it("a directory descriptor cannot move a path the check saw as inside it elsewhere", async () => {
    // The check resolves the name in the sandbox directory; dir_fd would create it in the library.
    await refused(
      '_posix.open("grail-sandbox-dirfd.txt", 0o101, dir_fd=_posix.open(_sys.modules["os"].path.dirname(_sys.modules["os"].__file__), 0))',
    );
    await refused('_posix.stat("x.txt", dir_fd=_posix.open(".", 0))');
  });

  it("inside it, listing and stat work", async () => {
    const r = await sandbox.run(
      `${ESCAPE}\ndef f():\n    _sys.modules["_io"].FileIO("mine.txt", "w").write(b"abc")\n    return (_posix.listdir("."), _posix.stat("mine.txt").st_size)`,
      ["assert f() == (['mine.txt'], 3)"],
    );
    expect(r.status).toBe("all_passed");
  });

  it("a path object that names another file on its second reading cannot slip past the check", async () => {
    const r = await sandbox.run(
      `${ESCAPE}
_calls = [0]
def _fspath(self):
    _calls[0] += 1
    return "/etc/hostname" if _calls[0] % 2 == 1 else "decoy.txt"
_Flip = type("Flip", (), {"__fspath__": _fspath})
def f():
    return _sys.modules["_io"].FileIO(_Flip(), "r").read()`,
      ["f()"],
    );
    expect([r.status, r.testResults[0]?.error]).toEqual([
      "error",
      expect.stringMatching(/^PermissionError: /),
    ]);
  });
});

describe.runIf(ROOT)("model-written code does not run as the miner's user (miner runs as root)", () => {
  const sandbox = new CodeSandbox({ python: TEST_PYTHON, workers: 1 });
  beforeAll(() => sandbox.start());
  afterAll(() => sandbox.close());

  it(`runs as uid/gid ${NOBODY} without supplementary groups`, async () => {
    expect(sandbox.isolation.userCodeUid).toBe(NOBODY);
    const r = await sandbox.run(
      `${ESCAPE}\ndef ids():\n    return (_posix.getuid(), _posix.geteuid(), _posix.getgid(), _posix.getegid(), _posix.getgroups())`,
      [`assert ids() == (${NOBODY}, ${NOBODY}, ${NOBODY}, ${NOBODY}, [])`],
    );
    expect(r.status).toBe("all_passed");
  });
});
