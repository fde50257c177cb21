import PQueue from "p-queue";

/**
 * Runs tasks with bounded concurrency; the first failure cancels the queued tasks and
 * aborts the running ones (through the signal handed to the task factory), so a broken
 * transfer does not keep sending requests after its result is already lost.
 */
export async function allOrNothing<T>(
  concurrency: number,
  outer: AbortSignal | undefined,
  makeTasks: (signal: AbortSignal) => Array<() => Promise<T>>,
): Promise<T[]> {
  const stop = new AbortController();
  const signal = outer ? AbortSignal.any([outer, stop.signal]) : stop.signal;
  const queue = new PQueue({ concurrency });
  const tasks = makeTasks(signal).map((task) => queue.add(task, { throwOnTimeout: true }) as Promise<T>);
  try {
    return await Promise.all(tasks);
  } catch (err) {
    queue.clear();
    stop.abort();
    await Promise.allSettled(tasks);
    throw err;
  }
}
