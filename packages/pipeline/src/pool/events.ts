import type { SlotState, Topology } from "./types.js";

/** ProofPool.health(): how many workers can prove, and whether the pool runs as configured. */
export interface PoolHealth {
  topology: Topology;
  /** The topology configured, when its workers failed to start and the pool fell back; else null. */
  fellBackFrom: Topology | null;
  fallbackReason: string | null;
  workers: number;
  /** Ready, or switching checkpoint in place (a normal, bounded state). */
  alive: number;
  /** Starting, or waiting to restart after a crash, a hang or a failed reload. */
  recovering: number;
  /** Disabled after too many restarts (tried again with a growing delay), or closed. */
  lost: number;
  /** shutdown() was called. */
  closing: boolean;
}

export type PoolEvent =
  | { type: "dispatched"; groupId: string; gpu: number; pid: number | null; attempt: number }
  | { type: "proved"; groupId: string; gpu: number; pid: number; attempt: number; proveMs: number }
  | { type: "retry"; groupId: string; reason: string; attempt: number }
  | { type: "dropped"; groupId: string; reason: string; attempts: number }
  | { type: "worker"; gpu: number; state: SlotState; pid: number | null; restarts: number }
  | { type: "fallback"; from: Topology; to: Topology; reason: string };
