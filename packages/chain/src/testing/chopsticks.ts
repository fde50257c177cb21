import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A real subtensor runtime on loopback: @acala-network/chopsticks started as a child
 * process from a raw chain spec (`genesis`), with no database (nothing persists) and
 * blocks built only on request. Used by this package's integration tests, the devnet
 * and the end-to-end tests.
 */
export interface LocalChopsticksOptions {
  /** Path to a raw chain spec whose genesis holds `:code`, e.g. the raonet spec 218 fixture. */
  readonly genesis: string;
  /** 0 (default) lets the OS pick a free port. */
  readonly port?: number;
  readonly buildBlockMode?: "Manual" | "Instant" | "Batch";
  /** Covers wasm compilation of the runtime; default 180 s. */
  readonly startupTimeoutMs?: number;
  /** chopsticks' LOG_LEVEL; its output is kept for error messages only. */
  readonly logLevel?: "error" | "warn" | "info" | "debug";
  /**
   * Path to chopsticks' `chopsticks.cjs`. By default it is resolved from this package
   * (a dev dependency here), then from the working directory, so a package that lists
   * @acala-network/chopsticks among its own dependencies can start it too.
   */
  readonly bin?: string;
}

export interface LocalChopsticks {
  /** ws://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** One JSON-RPC call over HTTP (dev_* methods included). */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /**
   * Builds `count` blocks (dev_newBlock) and returns the new head's hash.
   * `unsafeBlockHeight` numbers the first new block (skipping numbers), to pass block-based
   * rate limits without building every block in between.
   */
  newBlock(count?: number, options?: { unsafeBlockHeight?: number }): Promise<string>;
  /**
   * dev_setStorage: raw `[key, value]` pairs, or chopsticks' decoded form
   * `{ Pallet: { Item: value | [[keys], value][] } }` encoded with the runtime's metadata.
   */
  setStorage(values: unknown, blockHash?: string): Promise<string>;
  /** Extrinsics waiting in the pool. */
  pendingExtrinsics(): Promise<string[]>;
  /** Waits until the pool holds an extrinsic, then builds one block with it. */
  buildBlockWhenPending(options?: { timeoutMs?: number; pollMs?: number }): Promise<string>;
  /**
   * Builds a block whenever the pool is non-empty, until the returned function is called
   * (it resolves after the block in progress, if any, is built).
   */
  autoBuildBlocks(pollMs?: number): () => Promise<void>;
  /** Output of the process so far (for diagnosing a failed start). */
  output(): string;
  close(): Promise<void>;
}

function chopsticksBin(): string {
  const bases = [import.meta.url, path.join(process.cwd(), "noop.js")];
  for (const base of bases) {
    try {
      // …/@acala-network/chopsticks/dist/cjs/index.js → …/@acala-network/chopsticks/chopsticks.cjs
      const main = createRequire(base).resolve("@acala-network/chopsticks");
      return path.resolve(path.dirname(main), "..", "..", "chopsticks.cjs");
    } catch {
      // try the next base
    }
  }
  throw new Error("@acala-network/chopsticks is not installed; add it (1.5.1) to the package that starts it");
}

/**
 * Preloaded into the chopsticks process: once its parent is gone it removes its temp
 * dir and exits, so a test runner killed by a signal leaves no runtime behind.
 */
const PARENT_WATCH = `const { isMainThread } = require("node:worker_threads");
if (isMainThread) {
  const parent = process.ppid;
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      require("node:fs").rmSync(__dirname, { recursive: true, force: true });
      process.kill(process.pid, "SIGTERM");
      setTimeout(() => process.kill(process.pid, "SIGKILL"), 3000).unref();
    }
  }, 500).unref();
}
`;

const LISTENING = /listening on http:\/\/([\d.]+):(\d+)/;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed test runner must not leave runtimes behind.
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startLocalChopsticks(options: LocalChopsticksOptions): Promise<LocalChopsticks> {
  const dir = await mkdtemp(path.join(tmpdir(), "grail-chopsticks-"));
  const configPath = path.join(dir, "config.yml");
  const genesis = path.resolve(options.genesis);
  await writeFile(
    configPath,
    [
      `genesis: ${JSON.stringify(genesis)}`,
      "host: 127.0.0.1",
      `port: ${options.port ?? 0}`,
      `build-block-mode: ${options.buildBlockMode ?? "Manual"}`,
      "",
    ].join("\n"),
  );
  const preload = path.join(dir, "parent-watch.cjs");
  await writeFile(preload, PARENT_WATCH);
  installExitHook();
  const bin = options.bin ?? chopsticksBin();
  const child = spawn(process.execPath, ["--require", preload, bin, `--config=${configPath}`], {
    cwd: dir,
    env: { ...process.env, LOG_LEVEL: options.logLevel ?? "info", NO_COLOR: "1", FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let log = "";
  const keepLog = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout?.on("data", keepLog);
  child.stderr?.on("data", keepLog);

  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      if (!(await waitForExit(child, 5_000))) {
        child.kill("SIGKILL");
        await waitForExit(child, 5_000);
      }
    }
    running.delete(child);
    await rm(dir, { recursive: true, force: true });
  };

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timeoutMs = options.startupTimeoutMs ?? 180_000;
      const timer = setTimeout(
        () => reject(new Error(`chopsticks did not start within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onData = () => {
        const match = LISTENING.exec(log);
        if (match?.[2]) {
          clearTimeout(timer);
          child.stdout?.off("data", onData);
          resolve(Number(match[2]));
        }
      };
      child.stdout?.on("data", onData);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`chopsticks exited during start (code ${code}, signal ${signal})`));
      });
    });
  } catch (error) {
    await cleanup();
    throw new Error(`${(error as Error).message}\n--- chopsticks output ---\n${log.slice(-4_000)}`);
  }

  const httpUrl = `http://127.0.0.1:${port}`;
  let nextId = 1;
  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const response = await fetch(httpUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
    });
    const body = (await response.json()) as { result?: T; error?: { code: number; message: string } };
    if (body.error) throw new Error(`${method} failed: ${body.error.message} (${body.error.code})`);
    return body.result as T;
  };
  const newBlock = (count = 1, options: { unsafeBlockHeight?: number } = {}) =>
    rpc<string>("dev_newBlock", [{ count, ...options }]);
  const pendingExtrinsics = () => rpc<string[]>("author_pendingExtrinsics");
  const buildBlockWhenPending = async ({ timeoutMs = 30_000, pollMs = 25 } = {}) => {
    const deadline = Date.now() + timeoutMs;
    while ((await pendingExtrinsics()).length === 0) {
      if (Date.now() > deadline) throw new Error(`no extrinsic reached the pool within ${timeoutMs} ms`);
      await sleep(pollMs);
    }
    return newBlock();
  };

  return {
    endpoint: `ws://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? -1,
    rpc,
    newBlock,
    setStorage: (values, blockHash) =>
      rpc<string>("dev_setStorage", blockHash ? [values, blockHash] : [values]),
    pendingExtrinsics,
    buildBlockWhenPending,
    autoBuildBlocks(pollMs = 25) {
      let stopped = false;
      const loop = (async () => {
        while (!stopped) {
          if ((await pendingExtrinsics().catch(() => [])).length > 0) await newBlock().catch(() => {});
          else await sleep(pollMs);
        }
      })();
      return async () => {
        stopped = true;
        await loop;
      };
    },
    output: () => log,
    close: cleanup,
  };
}
