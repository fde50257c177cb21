import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Files the proof pool starts workers from. */
export interface WorkerEntryPoints {
  /** `node <this>` serves the IPC protocol on fds 3/4 (dist/main.js). */
  main: string;
  /** Piscina task file of the in-process topology (dist/thread.js). */
  thread: string;
  /** The torch worker (python/torch_worker.py). */
  torch: string;
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Where the built worker lives. Under a test runner this module runs from src/, while processes
 * and threads need the compiled JavaScript in dist/ (built by `pnpm build`).
 */
export function workerEntryPoints(): WorkerEntryPoints {
  const packageRoot = resolve(here, "..");
  const dist = join(packageRoot, "dist");
  return {
    main: join(dist, "main.js"),
    thread: join(dist, "thread.js"),
    torch: join(packageRoot, "python", "torch_worker.py"),
  };
}

/** Throws a clear error when the worker has not been built. */
export function assertWorkerBuilt(entry: WorkerEntryPoints = workerEntryPoints()): void {
  for (const p of [entry.main, entry.thread]) {
    if (!existsSync(p)) {
      throw new Error(
        `${p} is missing: build the proof worker first ("pnpm turbo run build --filter @grail/proof-worker")`,
      );
    }
  }
}
