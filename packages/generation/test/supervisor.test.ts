import { describe, expect, it } from "vitest";
import { freePort, ProcessSupervisor, ReadWriteGate, ServerCrashedError } from "../src/index.js";

// A server that answers its first health probe and then dies: a crash loop after every start.
const CRASHING_SERVER = `
const port = Number(process.argv[1]);
require("node:http").createServer((req, res) => {
  res.end("{}");
  setTimeout(() => process.exit(1), 30);
}).listen(port, "127.0.0.1");
`;

describe("ProcessSupervisor", () => {
  it("restarts a crashing server with backoff and gives up after maxRestarts", async () => {
    const supervisor = new ProcessSupervisor({
      name: "crashy",
      spec: async () => {
        const port = await freePort();
        return {
          command: process.execPath,
          args: ["-e", CRASHING_SERVER, String(port)],
          env: process.env,
          baseUrl: `http://127.0.0.1:${port}`,
        };
      },
      healthPaths: ["/health"],
      pollIntervalMs: 10,
      restartBackoffMs: [5, 10],
      maxRestarts: 2,
    });
    const events: string[] = [];
    supervisor.on("ready", () => events.push("ready"));
    supervisor.on("restarting", (attempt: number, delay: number) =>
      events.push(`restarting ${attempt} ${delay}`),
    );
    const failed = new Promise<Error>((resolve) => supervisor.once("failed", resolve));
    await supervisor.start();
    const error = await failed;
    expect(error).toBeInstanceOf(ServerCrashedError);
    expect(events).toEqual(["ready", "restarting 1 5", "ready", "restarting 2 10", "ready"]);
    expect(supervisor.state).toBe("failed");
    await expect(supervisor.whenReady()).rejects.toBe(error);
    await supervisor.stop();
  });

  it("fails start when the command cannot be spawned", async () => {
    const supervisor = new ProcessSupervisor({
      name: "missing",
      spec: () => ({
        command: "/nonexistent/server",
        args: [],
        env: process.env,
        baseUrl: "http://127.0.0.1:9",
      }),
      pollIntervalMs: 10,
    });
    await expect(supervisor.start()).rejects.toThrow(/exited .* before it became healthy/);
    expect(supervisor.state).toBe("failed");
  });
});

describe("ReadWriteGate", () => {
  it("runs shared work together and exclusive work alone, in arrival order", async () => {
    const gate = new ReadWriteGate();
    const log: string[] = [];
    let releaseA!: () => void;
    const a = gate.shared(async () => {
      log.push("a start");
      await new Promise<void>((r) => {
        releaseA = r;
      });
      log.push("a end");
    });
    const b = gate.shared(async () => {
      log.push("b run");
    });
    const sync = gate.exclusive(async () => {
      log.push("sync");
    });
    const c = gate.shared(async () => {
      log.push("c run");
    });
    await b;
    expect(log).toEqual(["a start", "b run"]);
    releaseA();
    await Promise.all([a, sync, c]);
    expect(log).toEqual(["a start", "b run", "a end", "sync", "c run"]);
  });
});
