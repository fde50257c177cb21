import type { HelloMessage, WorkerReply, WorkerRequest } from "@grail/ipc";
import type { Topology } from "./types.js";

/** Why a worker transport ended. */
export interface WorkerExit {
  /** Exit code of a process; null when killed by a signal or for a thread. */
  code: number | null;
  signal: NodeJS.Signals | null;
  reason: string;
}

/** A request to a worker without its id: the transport numbers requests itself. */
export type OutgoingRequest = WorkerRequest extends infer R
  ? R extends WorkerRequest
    ? Omit<R, "id">
    : never
  : never;

/**
 * One running worker (a child process or a worker thread) speaking the protocol of @grail/ipc.
 * request() resolves with the reply, error replies included, and rejects with WorkerFailure only
 * when the worker dies (or is killed) before answering.
 */
export interface WorkerTransport {
  readonly topology: Topology;
  readonly hello: HelloMessage;
  /** The worker process's pid (this process's pid for a thread). */
  readonly pid: number;
  /** Resolves once when the worker is gone, however it ended. */
  readonly exited: Promise<WorkerExit>;
  readonly alive: boolean;
  request(req: OutgoingRequest): Promise<WorkerReply>;
  /** Ends the worker now (SIGKILL for a process, terminate for a thread). */
  kill(reason: string): void;
  /** Asks the worker to shut down, waits up to graceMs for it to exit, then kills it. */
  close(graceMs: number): Promise<WorkerExit>;
}
