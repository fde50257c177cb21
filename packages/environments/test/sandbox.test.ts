import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CacheDirectorySource,
  CodeSandbox,
  createEnvironment,
  DatasetStore,
  type Problem,
  resolvePythonRuntime,
  scoreCode,
  THINKING_CONFIGS,
} from "../src/index.js";
import { TEST_PYTHON } from "./python.js";
import { ESCAPE } from "./sandbox-escape.js";

const FIXTURES = resolve(import.meta.dirname, "fixtures");
const INS = THINKING_CONFIGS.instructed;
const wrap = (code: string) => `<start_working_out>plan</end_working_out><SOLUTION>\n${code}\n</SOLUTION>`;

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe("execution semantics of the validator's pool (spec §6.2)", () => {
  const sandbox = new CodeSandbox({ python: TEST_PYTHON, workers: 2 });
  const store = new DatasetStore(new CacheDirectorySource(FIXTURES, { requireCatalogCounts: false }));
  beforeAll(() => sandbox.start());
  afterAll(() => sandbox.close());

  it("reports the isolation it runs with", () => {
    const iso = sandbox.isolation;
    expect(iso.auditHook).toBe(true);
    expect(iso.rlimits).toEqual(
      expect.arrayContaining(["RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_NOFILE"]),
    );
    if (process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64")) {
      expect(iso.seccomp).toBe(true);
    }
    expect(iso.python).toBe(resolvePythonRuntime(TEST_PYTHON).version);
  });

  it("HumanEval FixtureEval/0: the prompt's typing import fails every test (0.3), without it 1.0", async () => {
    const env = createEnvironment("humaneval", {}, { datasets: store, sandbox });
    const p = (await env.problemFromSeed(0)) as Extract<Problem, { env: "humaneval" }>;
    const withImport = await env.score(p, wrap(p.question + p.referenceSolution), "instructed");
    expect(withImport.reward).toBeCloseTo(0.3, 12);
    expect(withImport.success).toBe(false);
    expect(withImport.details.kind === "code" && withImport.details.testResults[0]?.error).toMatch(
      /ImportError/,
    );
    // Dropping only the import still fails: the List[int] annotations are evaluated at def time.
    const noImport = p.question.replace("from typing import List\n", "") + p.referenceSolution;
    const annotated = await env.score(p, wrap(noImport), "instructed");
    expect(annotated.details.kind === "code" && annotated.details.testResults[0]?.error).toMatch(
      /NameError: name 'List'/,
    );
    const body = noImport.replace("values: List[int]) -> List[int]", "values)");
    const ok = await env.score(p, wrap(body), "instructed");
    expect(ok.reward).toBeCloseTo(1.0, 12);
    expect(ok.success).toBe(true);
  });

  it("HumanEval FixtureEval/1 passes with prompt plus solution", async () => {
    const env = createEnvironment("humaneval", {}, { datasets: store, sandbox });
    const p = (await env.problemFromSeed(1)) as Extract<Problem, { env: "humaneval" }>;
    const r = await env.score(p, wrap(p.question + p.referenceSolution), "instructed");
    expect(r.success).toBe(true);
    expect(r.components).toEqual({ correctness: 1, syntax: 1, format: 1, thinking: 1 });
  });

  it("every MBPP fixture reference solution passes, incl. the setup-code row 9005", async () => {
    for (const split of ["train", "validation"] as const) {
      const env = createEnvironment("mbpp", { split }, { datasets: store, sandbox });
      const n = await env.size();
      for (let seed = 0; seed < n; seed++) {
        const p = (await env.problemFromSeed(seed)) as Extract<Problem, { env: "mbpp" }>;
        const r = await env.score(p, wrap(p.referenceSolution), "instructed");
        expect([p.datasetTaskId, r.details.kind === "code" && r.details.status]).toEqual([
          p.datasetTaskId,
          "all_passed",
        ]);
      }
    }
  });

  it("one test of three passing gives 0.5333", async () => {
    const r = await sandbox.run("def f(x):\n    return 1", [
      "assert f(0) == 1",
      "assert f(1) == 2",
      "assert f(2) == 3",
    ]);
    expect([r.passed, r.total, r.status]).toEqual([1, 3, "some_failed"]);
    const s = await scoreCode(
      wrap("def f(x):\n    return 1"),
      {
        kind: "mbpp",
        testList: ["assert f(0) == 1", "assert f(1) == 2", "assert f(2) == 3"],
        testSetupCode: "",
        testImports: [],
      },
      INS,
      sandbox,
    );
    expect(s.reward).toBeCloseTo(0.7 / 3 + 0.3, 12);
  });

  it("classes, __name__ and non-allowed builtins fail; allowed imports work", async () => {
    const cls = await sandbox.run("class A:\n    pass\ndef f():\n    return A()", ["f()"]);
    expect(cls.testResults[0]?.error).toMatch(/NameError.*__name__/);
    const main = await sandbox.run('def f():\n    return 1\nif __name__ == "__main__":\n    f()', [
      "assert f() == 1",
    ]);
    expect(main.status).toBe("error");
    const it_ = await sandbox.run("def f(xs):\n    return next(iter(xs))", ["assert f([1]) == 1"]);
    expect(it_.testResults[0]?.error).toMatch(/NameError: name 'next'/);
    const ok = await sandbox.run(
      "import heapq, re\nfrom collections import deque\nfrom functools import reduce\ndef f(xs):\n    return heapq.nsmallest(1, xs)[0]",
      ["assert f([3, 1, 2]) == 1", "assert re.sub('a', 'b', 'aa') == 'bb'"],
    );
    expect(ok.status).toBe("all_passed");
  });

  it("syntax errors skip execution; empty and missing code score the format terms only", async () => {
    const bad = await sandbox.run("def f(:", ["assert True"]);
    expect([bad.status, bad.passed, bad.total, bad.compile]).toEqual(["syntax_error", 0, 1, "syntax"]);
    const empty = await scoreCode(
      "<SOLUTION>  </SOLUTION>",
      { kind: "humaneval", test: "", entryPoint: "" },
      INS,
      sandbox,
    );
    expect(empty.components).toEqual({ correctness: 0, syntax: 0, format: 1, thinking: 0 });
    expect(empty.details.kind === "code" && empty.details.status).toBe("no_code");
  });

  it("treats NUL bytes as a syntax error, as CPython 3.12 does", async () => {
    const r = await sandbox.run("x = 1\0", ["assert True"]);
    expect(r.status).toBe("syntax_error");
  });

  it("flags a BaseException that escapes the reference's worker", async () => {
    const r = await scoreCode(
      wrap("def f():\n    raise BaseException('stop')"),
      { kind: "mbpp", testList: ["f()"], testSetupCode: "", testImports: [] },
      INS,
      sandbox,
    );
    expect(r.details.kind === "code" && r.details.status).toBe("base_exception");
    expect(r.validatorWouldRaise).toBe(true);
  });
});

describe("recycling after the reuse limit (spec §6.2: 50 jobs)", () => {
  it("replaces a worker after maxJobsPerWorker jobs", async () => {
    const sandbox = new CodeSandbox({ python: TEST_PYTHON, workers: 1, maxJobsPerWorker: 2 });
    try {
      await sandbox.start();
      const [first] = sandbox.workerPids;
      await sandbox.run("x = 1", ["assert x == 1"]);
      await sandbox.run("x = 1", ["assert x == 1"]);
      const third = await sandbox.run("x = 1", ["assert x == 1"]);
      expect(third.status).toBe("all_passed");
      expect(sandbox.workerPids).toHaveLength(1);
      expect(sandbox.workerPids[0]).not.toBe(first);
    } finally {
      await sandbox.close();
    }
  });
});

describe("hostile code ends as a failed test and leaves the miner unharmed", () => {
  const sandbox = new CodeSandbox({
    python: TEST_PYTHON,
    workers: 2,
    testTimeoutSeconds: 1,
    jobSlackSeconds: 2,
    memoryBytes: 1024 ** 3,
  });
  const myPid = process.pid;
  beforeAll(() => sandbox.start());
  afterAll(() => sandbox.close());

  const expectFailed = (r: { passed: number; status: string }) => {
    expect(r.passed).toBe(0);
    expect(["error", "timeout", "process_error"]).toContain(r.status);
  };

  it("infinite loop: the per-test alarm fires", async () => {
    const r = await sandbox.run("def f():\n    while True:\n        pass", ["f()"]);
    expect(r.status).toBe("timeout");
    expect(r.testResults[0]?.error).toBe("Timeout");
  });

  it("a loop that swallows the alarm is killed at the job deadline and its worker replaced", async () => {
    const before = sandbox.workerPids;
    const code =
      "def f():\n    while True:\n        try:\n            while True:\n                pass\n        except BaseException:\n            pass";
    const r = await sandbox.run(code, ["f()"]);
    expect(r.status).toBe("timeout");
    const after = await sandbox.run("def g():\n    return 2", ["assert g() == 2"]);
    expect(after.status).toBe("all_passed");
    // The replacement starts when the killed worker's exit is observed.
    for (let i = 0; i < 100 && !sandbox.workerPids.some((p) => !before.includes(p)); i++) {
      await sleep(50);
    }
    expect(sandbox.workerPids.some((p) => !before.includes(p))).toBe(true);
  });

  it("fork bombs: the import is refused, and the raw syscalls are refused too", async () => {
    expectFailed(await sandbox.run("import os\ndef f():\n    while True:\n        os.fork()", ["f()"]));
    const raw = await sandbox.run(`${ESCAPE}\ndef f():\n    while True:\n        _posix.fork()`, ["f()"]);
    expectFailed(raw);
    expect(raw.testResults[0]?.error).toMatch(/PermissionError|BlockingIOError|OSError/);
    const thread = await sandbox.run(
      `${ESCAPE}\ndef f():\n    t = _sys.modules["_thread"]\n    while True:\n        t.start_new_thread(len, ((),))`,
      ["f()"],
    );
    expectFailed(thread);
    for (const pid of sandbox.workerPids) expect(childrenOf(pid)).toEqual([]);
  });

  it("exec and shell escapes are refused", async () => {
    const r = await sandbox.run(`${ESCAPE}\ndef f():\n    _posix.system("touch /tmp/grail-sandbox-pwned")`, [
      "f()",
    ]);
    expectFailed(r);
    const e = await sandbox.run(
      `${ESCAPE}\ndef f():\n    _posix.execv("/bin/sh", ["/bin/sh", "-c", "true"])`,
      ["f()"],
    );
    expectFailed(e);
    expect(existsSync("/tmp/grail-sandbox-pwned")).toBe(false);
  });

  it("huge allocations fail with MemoryError", async () => {
    const r = await sandbox.run("def f():\n    return 'x' * (10 ** 11)", ["f()"]);
    expect(r.testResults[0]?.error).toMatch(/MemoryError/);
    const g = await sandbox.run(
      "def f():\n    xs = []\n    while True:\n        xs.append(bytearray(10 ** 8))",
      ["f()"],
    );
    expectFailed(g);
  });

  it("writes outside the working directory are refused; inside it they work", async () => {
    const target = `/tmp/grail-sandbox-escape-${process.pid}.txt`;
    const out = await sandbox.run(
      `${ESCAPE}\ndef f():\n    fio = _sys.modules["_io"].FileIO(${JSON.stringify(target)}, "w")\n    fio.write(b"x")`,
      ["f()"],
    );
    expectFailed(out);
    expect(existsSync(target)).toBe(false);
    const raw = await sandbox.run(`${ESCAPE}\ndef f():\n    _posix.open(${JSON.stringify(target)}, 0o1101)`, [
      "f()",
    ]);
    expectFailed(raw);
    expect(existsSync(target)).toBe(false);
    const inside = await sandbox.run(
      `${ESCAPE}\ndef f():\n    fio = _sys.modules["_io"].FileIO("scratch.txt", "w")\n    fio.write(b"ok")\n    fio.close()`,
      ["f()"],
    );
    expect(inside.status).toBe("all_passed");
    const big = await sandbox.run(
      `${ESCAPE}\ndef f():\n    fio = _sys.modules["_io"].FileIO("big.bin", "w")\n    for _ in range(64):\n        fio.write(b"x" * 2 ** 20)`,
      ["f()"],
    );
    expectFailed(big);
  });

  it("reading the miner's files outside Python's own trees is refused", async () => {
    const r = await sandbox.run(
      `${ESCAPE}\ndef f():\n    return _sys.modules["_io"].FileIO("/etc/hostname", "r").read()`,
      ["f()"],
    );
    expect(r.testResults[0]?.error).toMatch(/PermissionError/);
  });

  it("sockets are refused", async () => {
    expectFailed(await sandbox.run("import socket\ndef f():\n    socket.socket()", ["f()"]));
    const r = await sandbox.run(
      `${ESCAPE}\ndef f():\n    s = _sys.modules["builtins"].__import__("_socket")\n    s.socket().connect(("127.0.0.1", 9))`,
      ["f()"],
    );
    expectFailed(r);
  });

  it("signals to the miner are refused", async () => {
    const r = await sandbox.run(`${ESCAPE}\ndef f():\n    _posix.kill(${myPid}, 9)`, ["f()"]);
    expectFailed(r);
    expect(process.pid).toBe(myPid);
  });

  it("a flood of output goes nowhere", async () => {
    const r = await sandbox.run("def f():\n    for _ in range(50):\n        print('x' * 10 ** 6)", ["f()"]);
    expect(r.status).toBe("all_passed");
  });

  it("garbage written on every descriptor it holds is not read as an answer", async () => {
    const before = sandbox.workerPids;
    const code = `${ESCAPE}\ndef f():\n    for fd in range(0, 256):\n        try:\n            _posix.write(fd, b"not json\\n")\n        except Exception:\n            pass`;
    const r = await sandbox.run(code, ["f()"]);
    expect([r.status, r.passed]).toEqual(["all_passed", 1]);
    expect(sandbox.workerPids).toEqual(before);
    expect((await sandbox.run("x = 3", ["assert x == 3"])).status).toBe("all_passed");
  });

  it("an interpreter crash is a process error, retried, and the pool recovers", async () => {
    const code = `${ESCAPE}\ndef f():\n    _posix.abort()`;
    const r = await sandbox.run(code, ["f()"]);
    expect(r.passed).toBe(0);
    expect(r.status).toBe("process_error");
    expect((await sandbox.run("y = 4", ["assert y == 4"])).status).toBe("all_passed");
    expect(sandbox.workerPids).toHaveLength(2);
  });
});
