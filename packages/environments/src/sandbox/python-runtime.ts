import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SandboxUnavailableError } from "../errors.js";

/** The worker script shipped with this package (same relative place from src/ and dist/). */
export const SANDBOX_WORKER_SCRIPT = fileURLToPath(
  new URL("../../python/sandbox_worker.py", import.meta.url),
);

export interface PythonRuntime {
  /** Absolute path of the real interpreter (pyenv-style shims resolved). */
  readonly executable: string;
  readonly version: string;
  /** Whether sympy imports in this interpreter (MATH strategy (b) needs it). */
  readonly hasSympy: boolean;
}

const runtimes = new Map<string, PythonRuntime>();

/**
 * Resolves the interpreter once per process. Workers are later spawned with a clean environment,
 * so a shim that needs PATH or PYENV_* variables must be resolved to the real binary first.
 * `python` is the caller's (the miner's GRAIL_PYTHON setting): nothing here reads the environment.
 */
export function resolvePythonRuntime(python: string): PythonRuntime {
  if (typeof python !== "string" || python.trim() === "") {
    throw new SandboxUnavailableError(
      "no Python interpreter was given; pass the GRAIL_PYTHON setting (pipeline.python of @grail/config)",
      { python },
    );
  }
  const cached = runtimes.get(python);
  if (cached) return cached;
  const probe = spawnSync(
    python,
    [
      "-c",
      "import sys, importlib.util as u; print(sys.executable); print(sys.version.split()[0]); print(u.find_spec('sympy') is not None)",
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (probe.error || probe.status !== 0) {
    throw new SandboxUnavailableError(
      `"${python}" did not start: ${probe.error?.message ?? probe.stderr.trim()}`,
      {
        python,
      },
    );
  }
  const [executable = "", version = "", sympy = ""] = probe.stdout.trim().split("\n");
  const [major = 0, minor = 0] = version.split(".").map(Number);
  if (major < 3 || (major === 3 && minor < 11)) {
    throw new SandboxUnavailableError(`"${python}" is Python ${version}, older than 3.11`, {
      python,
      version,
    });
  }
  const runtime = { executable, version, hasSympy: sympy === "True" };
  runtimes.set(python, runtime);
  return runtime;
}

export type NetworkIsolation = "namespace" | "none";

let namespacePrefix: string[] | null | undefined;

/**
 * The command prefix that puts a worker in a fresh network namespace (only a down loopback), or
 * null when unshare is missing or not permitted (containers without CAP_SYS_ADMIN and without
 * unprivileged user namespaces). Probed once per process.
 */
export function networkNamespacePrefix(): string[] | null {
  if (namespacePrefix !== undefined) return namespacePrefix;
  const isRoot = typeof process.geteuid === "function" && process.geteuid() === 0;
  const candidates = isRoot
    ? [["unshare", "-n"]]
    : [
        ["unshare", "-rn"],
        ["unshare", "-n"],
      ];
  namespacePrefix = null;
  for (const prefix of candidates) {
    const [cmd = "", ...args] = prefix;
    const r = spawnSync(cmd, [...args, "true"], { timeout: 10_000, stdio: "ignore" });
    if (!r.error && r.status === 0) {
      namespacePrefix = prefix;
      break;
    }
  }
  return namespacePrefix;
}

/** The environment a worker gets: nothing inherited from the miner (keys, tokens, CUDA devices). */
export function cleanWorkerEnv(workDir: string): NodeJS.ProcessEnv {
  return {
    PATH: "/usr/bin:/bin",
    HOME: workDir,
    TMPDIR: workDir,
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    CUDA_VISIBLE_DEVICES: "",
    CUDA_DEVICE_ORDER: "PCI_BUS_ID",
    PYTHONIOENCODING: "utf-8",
  };
}
