// The file stays whole (over 400 lines): ProcessSupervisor is one state machine (idle, starting,
// ready, restarting, stopping, stopped, failed) whose transitions share the running child, the
// restart timer and the log tail; split up, one state's transitions would live in several files.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { type BasicLogger, silentLogger } from "@grail/log";
import { backoffSchedule } from "@grail/util";
import { ServerCrashedError, ServerStartError } from "./errors.js";
import { httpProbe } from "./http.js";
import { newServerToken, SERVER_ID_ENV, ServerPidFile } from "./server-pid-file.js";

/** The guard in front of every server (built; from src/ under a test runner as from dist/). */
const GUARD = fileURLToPath(new URL("../dist/server-guard.js", import.meta.url));

/** One concrete start of the server, computed afresh at every (re)start (a new port, the current model). */
export interface LaunchSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Where the server will answer, e.g. http://127.0.0.1:30000 */
  baseUrl: string;
  /** Run after the process group is gone, e.g. `docker rm -f name`. */
  stopCommand?: string[];
}

export interface SupervisorOptions {
  /** Log prefix and error context, e.g. "sglang". */
  name: string;
  spec: () => Promise<LaunchSpec> | LaunchSpec;
  /** GET paths probed until one answers 200. */
  healthPaths?: readonly string[];
  startupTimeoutMs?: number;
  pollIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Called once healthy; a failure is logged and ignored (the server works without it). */
  warmUp?: (baseUrl: string) => Promise<void>;
  /** Delay before the n-th consecutive automatic restart. */
  restartBackoffMs?: readonly number[];
  /** Automatic restarts allowed within restartWindowMs before the supervisor gives up. */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** SIGTERM → SIGKILL grace period on shutdown. */
  stopGraceMs?: number;
  /** SIGTERM → SIGKILL grace period when the guard stops a server whose supervisor died. */
  orphanGraceMs?: number;
  /**
   * Where the running server is recorded (the miner's cache directory): a start stops a server that
   * an earlier, dead miner left running there, before it launches its own.
   */
  pidFile?: string;
  logger?: BasicLogger;
  /** Server log lines kept for error reports. */
  keepLogLines?: number;
}

export type SupervisorState =
  | "idle"
  | "starting"
  | "ready"
  | "restarting"
  | "stopping"
  | "stopped"
  | "failed";

interface RunningChild {
  child: ChildProcess;
  /** The guard's pid, which leads the server's process group. */
  pid: number;
  /** SERVER_ID_ENV of every process of this server. */
  token: string;
  spec: LaunchSpec;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited: boolean;
}

/**
 * Runs a server as a child in its own process group, waits for health, pipes its log with a prefix,
 * restarts it with backoff when it dies, and kills the whole group (tensor-parallel workers included)
 * on shutdown or when this process exits. A guard (server-guard.ts) leads the group and ends it when
 * this process dies without a word (kill -9); with a pid file, a start also stops a server that a
 * dead miner left behind.
 *
 * Events: `ready` (pid, baseUrl), `exit` (code, signal), `restarting` (attempt, delayMs), `failed` (error).
 */
export class ProcessSupervisor extends EventEmitter {
  private readonly o: Required<Omit<SupervisorOptions, "warmUp" | "pidFile">> &
    Pick<SupervisorOptions, "warmUp">;
  private readonly pidFile: ServerPidFile | null;
  private current: RunningChild | null = null;
  private stateValue: SupervisorState = "idle";
  private failure: Error | null = null;
  private restartTimes: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly recentLines: string[] = [];
  private readonly exitHook = () => this.killGroupNow("SIGKILL");
  private exitHookInstalled = false;
  private startsCount = 0;

  constructor(options: SupervisorOptions) {
    super();
    this.o = {
      healthPaths: ["/v1/models", "/health"],
      startupTimeoutMs: 300_000,
      pollIntervalMs: 500,
      probeTimeoutMs: 3_000,
      restartBackoffMs: [1_000, 2_000, 4_000, 8_000, 16_000, 30_000],
      maxRestarts: 5,
      restartWindowMs: 600_000,
      stopGraceMs: 10_000,
      orphanGraceMs: 3_000,
      logger: silentLogger,
      keepLogLines: 60,
      ...options,
    };
    this.pidFile = options.pidFile ? new ServerPidFile(options.pidFile, this.o.logger) : null;
  }

  get state(): SupervisorState {
    return this.stateValue;
  }

  get pid(): number | null {
    return this.current?.pid ?? null;
  }

  /** Number of successful starts so far (1 after start(), +1 per restart). */
  get starts(): number {
    return this.startsCount;
  }

  get baseUrl(): string {
    if (!this.current)
      throw new ServerStartError(`${this.o.name} server is not running`, { state: this.state });
    return this.current.spec.baseUrl;
  }

  /** The last server log lines (for diagnostics). */
  get logTail(): readonly string[] {
    return this.recentLines;
  }

  async start(): Promise<void> {
    if (this.stateValue !== "idle" && this.stateValue !== "stopped") {
      throw new ServerStartError(`${this.o.name} server already ${this.stateValue}`, {
        state: this.stateValue,
      });
    }
    this.failure = null;
    this.restartTimes = [];
    try {
      await this.launch();
    } catch (error) {
      this.setFailed(error as Error);
      throw error;
    }
  }

  /** Resolves once the server is ready; rejects when the supervisor gave up or was stopped. */
  whenReady(): Promise<void> {
    if (this.stateValue === "ready") return Promise.resolve();
    if (this.stateValue === "failed") return Promise.reject(this.failure);
    if (this.stateValue === "stopped" || this.stateValue === "idle" || this.stateValue === "stopping") {
      return Promise.reject(new ServerStartError(`${this.o.name} server is ${this.stateValue}`, {}));
    }
    return new Promise((resolve, reject) => {
      const onReady = () => {
        this.off("failed", onFailed);
        resolve();
      };
      const onFailed = (error: Error) => {
        this.off("ready", onReady);
        reject(error);
      };
      this.once("ready", onReady);
      this.once("failed", onFailed);
    });
  }

  /**
   * Deliberate restart (new launch spec, e.g. after a failed weight sync): stops the running server and
   * starts a new one without backoff. Rejects with ServerStartError when the new one does not come up.
   */
  async restart(reason: string): Promise<void> {
    this.o.logger.warn(`[${this.o.name}] restarting: ${reason}`);
    this.clearRestartTimer();
    this.stateValue = "restarting";
    await this.stopChild();
    try {
      await this.launch();
    } catch (error) {
      this.setFailed(error as Error);
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.clearRestartTimer();
    if (this.stateValue === "stopped" || this.stateValue === "idle") return;
    this.stateValue = "stopping";
    const token = this.current?.token;
    await this.stopChild();
    if (token) await this.pidFile?.remove(token).catch(() => undefined);
    this.stateValue = "stopped";
    this.uninstallExitHook();
  }

  private async launch(): Promise<void> {
    this.stateValue = this.stateValue === "restarting" ? "restarting" : "starting";
    await this.pidFile?.stopLeftover(this.o.stopGraceMs).catch((error: Error) => {
      this.o.logger.warn(`[${this.o.name}] could not check for a leftover server: ${error.message}`);
    });
    const spec = await this.o.spec();
    const running = this.spawnChild(spec);
    this.current = running;
    await this.pidFile?.write(running.pid, running.token).catch((error: Error) => {
      this.o.logger.warn(`[${this.o.name}] could not write ${this.pidFile!.file}: ${error.message}`);
    });
    try {
      await this.waitHealthy(running);
    } catch (error) {
      this.killGroup(running, "SIGKILL");
      await running.exited;
      this.current = null;
      throw error;
    }
    if (this.o.warmUp) {
      try {
        await this.o.warmUp(spec.baseUrl);
      } catch (error) {
        this.o.logger.warn(`[${this.o.name}] warm-up failed (ignored): ${(error as Error).message}`);
      }
    }
    if (this.current !== running || running.hasExited) {
      throw new ServerStartError(`${this.o.name} server exited during warm-up`, {
        tail: [...this.recentLines],
      });
    }
    this.stateValue = "ready";
    this.startsCount++;
    this.o.logger.info(`[${this.o.name}] ready`, { pid: running.pid, baseUrl: spec.baseUrl });
    this.emit("ready", running.pid, spec.baseUrl);
  }

  private spawnChild(spec: LaunchSpec): RunningChild {
    this.o.logger.info(`[${this.o.name}] starting: ${spec.command} ${spec.args.join(" ")}`, {
      CUDA_VISIBLE_DEVICES: spec.env.CUDA_VISIBLE_DEVICES,
    });
    if (!existsSync(GUARD)) {
      const hint = "build first (pnpm turbo run build --filter @grail/generation)";
      throw new ServerStartError(`${GUARD} is missing: ${hint}`, { guard: GUARD });
    }
    const token = newServerToken();
    // detached: the guard leads a new process group with the server and its TP workers, so one
    // signal reaches them all. Its stdin is a pipe this process never writes: it closes when we die.
    const child = spawn(
      process.execPath,
      [GUARD, "--grace-ms", String(this.o.orphanGraceMs), "--", spec.command, ...spec.args],
      { env: { ...spec.env, [SERVER_ID_ENV]: token }, detached: true, stdio: ["pipe", "pipe", "pipe"] },
    );
    child.stdin?.on("error", () => undefined);
    let resolveExit!: (v: { code: number | null; signal: NodeJS.Signals | null }) => void;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
      resolveExit = r;
    });
    const running: RunningChild = { child, pid: child.pid ?? -1, token, spec, exited, hasExited: false };
    child.once("error", (error) => {
      this.o.logger.error(`[${this.o.name}] could not start ${spec.command}: ${error.message}`);
      this.remember(`spawn error: ${error.message}`);
      running.hasExited = true;
      resolveExit({ code: null, signal: null });
    });
    child.once("exit", (code, signal) => {
      child.stdin?.destroy();
      running.hasExited = true;
      resolveExit({ code, signal });
      this.onChildExit(running, code, signal);
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        this.remember(line);
        this.o.logger.debug(`[${this.o.name}] ${line}`);
      });
    }
    this.installExitHook();
    return running;
  }

  private remember(line: string): void {
    this.recentLines.push(line);
    if (this.recentLines.length > this.o.keepLogLines) this.recentLines.shift();
  }

  private async waitHealthy(running: RunningChild): Promise<void> {
    const deadline = Date.now() + this.o.startupTimeoutMs;
    const exitSignal = running.exited.then(() => "exited" as const);
    for (;;) {
      if (running.hasExited) {
        const { code, signal } = await running.exited;
        throw new ServerStartError(
          `${this.o.name} server exited (code ${code}, signal ${signal}) before it became healthy; see its log lines in context.tail`,
          { code, signal, command: running.spec.command, tail: [...this.recentLines] },
        );
      }
      for (const path of this.o.healthPaths) {
        if ((await httpProbe(running.spec.baseUrl + path, this.o.probeTimeoutMs)) === 200) return;
      }
      if (Date.now() >= deadline) {
        throw new ServerStartError(
          `${this.o.name} server not healthy after ${this.o.startupTimeoutMs} ms at ${running.spec.baseUrl}; raise GRAIL_PIPELINE_SERVER_TIMEOUT or check its log`,
          { baseUrl: running.spec.baseUrl, tail: [...this.recentLines] },
        );
      }
      await Promise.race([sleep(this.o.pollIntervalMs), exitSignal]);
    }
  }

  private onChildExit(running: RunningChild, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.current !== running) return;
    this.emit("exit", code, signal);
    if (this.stateValue !== "ready") return; // start/stop paths handle their own exits
    this.o.logger.error(`[${this.o.name}] server exited unexpectedly (code ${code}, signal ${signal})`, {
      tail: this.recentLines.slice(-10),
    });
    // Orphaned workers of the group may still hold GPU memory; reap them before relaunching.
    this.killGroup(running, "SIGKILL");
    this.current = null;
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((t) => now - t < this.o.restartWindowMs);
    if (this.restartTimes.length >= this.o.maxRestarts) {
      this.setFailed(
        new ServerCrashedError(
          `${this.o.name} server crashed ${this.restartTimes.length + 1} times within ${this.o.restartWindowMs} ms; giving up — check the server log and GPU health`,
          { tail: [...this.recentLines] },
        ),
      );
      return;
    }
    const attempt = this.restartTimes.length + 1;
    const delay = backoffSchedule(this.o.restartBackoffMs)(attempt, null);
    this.restartTimes.push(now);
    this.stateValue = "restarting";
    this.emit("restarting", attempt, delay);
    this.o.logger.warn(`[${this.o.name}] restart ${attempt}/${this.o.maxRestarts} in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.launch().catch((error: Error) => {
        this.o.logger.error(`[${this.o.name}] restart failed: ${error.message}`);
        if (this.stateValue === "restarting") this.scheduleRestart();
      });
    }, delay);
  }

  private setFailed(error: Error): void {
    this.stateValue = "failed";
    this.failure = error;
    this.emit("failed", error);
  }

  private clearRestartTimer(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }

  private async stopChild(): Promise<void> {
    const running = this.current;
    this.current = null;
    if (!running) return;
    if (!running.hasExited) {
      this.killGroup(running, "SIGTERM");
      const graceful = await Promise.race([
        running.exited.then(() => true),
        sleep(this.o.stopGraceMs).then(() => false),
      ]);
      if (!graceful)
        this.o.logger.warn(`[${this.o.name}] did not stop within ${this.o.stopGraceMs} ms; killing`);
    }
    // The leader may be gone while workers of its group linger: always finish with SIGKILL to the group.
    this.killGroup(running, "SIGKILL");
    await running.exited;
    await this.groupGone(running);
    if (running.spec.stopCommand && running.spec.stopCommand.length > 0) {
      const [cmd, ...args] = running.spec.stopCommand;
      await new Promise<void>((resolve) => {
        execFile(cmd!, args, { timeout: 30_000 }, (error) => {
          if (error) this.o.logger.warn(`[${this.o.name}] stop command failed: ${error.message}`);
          resolve();
        });
      });
    }
  }

  private killGroup(running: RunningChild, signal: NodeJS.Signals): void {
    if (running.pid <= 0) return;
    try {
      process.kill(-running.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }

  /**
   * SIGKILL is delivered asynchronously: members of the group (a TP worker holding a GPU) can
   * outlive the leader's exit by a few milliseconds. Wait until the group is empty, bounded,
   * so that a restart or the next server never races the old one for GPU memory.
   */
  private async groupGone(running: RunningChild, timeoutMs = 5_000): Promise<void> {
    if (running.pid <= 0) return;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        process.kill(-running.pid, 0);
      } catch {
        return;
      }
      await sleep(10);
    }
    this.o.logger.warn(`[${this.o.name}] process group ${running.pid} still has members after SIGKILL`);
  }

  private killGroupNow(signal: NodeJS.Signals): void {
    if (this.current) this.killGroup(this.current, signal);
  }

  private installExitHook(): void {
    if (this.exitHookInstalled) return;
    process.on("exit", this.exitHook);
    this.exitHookInstalled = true;
  }

  private uninstallExitHook(): void {
    if (!this.exitHookInstalled) return;
    process.off("exit", this.exitHook);
    this.exitHookInstalled = false;
  }
}
