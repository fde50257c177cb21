import { GrailError } from "@grail/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { EnvironmentError, resolvePythonRuntime, SandboxUnavailableError } from "../src/index.js";
import { WorkerDiedError, WorkerTimeoutError } from "../src/sandbox/worker-process.js";

describe("the sandbox's interpreter", () => {
  const saved = process.env.GRAIL_PYTHON;
  afterEach(() => {
    if (saved === undefined) delete process.env.GRAIL_PYTHON;
    else process.env.GRAIL_PYTHON = saved;
  });

  it("comes from its caller (the GRAIL_PYTHON setting); the process environment is not read", () => {
    // A working interpreter in the environment must not stand in for the one the caller omitted.
    process.env.GRAIL_PYTHON = "python3";
    const omitted = undefined as unknown as string;
    expect(() => resolvePythonRuntime(omitted)).toThrow(SandboxUnavailableError);
    expect(() => resolvePythonRuntime(omitted)).toThrow(/no Python interpreter was given/);
  });
});

describe("sandbox worker failures", () => {
  it("are the package's errors, with what a log line needs as context", () => {
    const died = new WorkerDiedError("exited with code 1", "Traceback: boom");
    expect(died).toBeInstanceOf(EnvironmentError);
    expect(died).toBeInstanceOf(GrailError);
    expect([died.name, died.code]).toEqual(["WorkerDiedError", "WorkerDiedError"]);
    expect(died.context).toEqual({ reason: "exited with code 1", stderrTail: "Traceback: boom" });
    expect(died.message).toBe("sandbox worker died: exited with code 1 (stderr: Traceback: boom)");

    const timedOut = new WorkerTimeoutError(2_500);
    expect(timedOut).toBeInstanceOf(EnvironmentError);
    expect([timedOut.name, timedOut.timeoutMs, timedOut.context]).toEqual([
      "WorkerTimeoutError",
      2_500,
      { timeoutMs: 2_500 },
    ]);
  });
});
