import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { ChainConnectionError, SubtensorClient } from "../src/index.js";

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("connecting", () => {
  it("keeps retrying an unreachable node with backoff, then fails with a clear error", async () => {
    const url = `ws://127.0.0.1:${await closedPort()}`;
    const warnings: Array<Record<string, unknown> | undefined> = [];
    const error = await SubtensorClient.connect({
      url,
      connectTimeoutMs: 1_500,
      reconnect: { initialDelayMs: 10, maxDelayMs: 80 },
      logger: { debug() {}, info() {}, warn: (_m, meta) => warnings.push(meta), error() {} },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainConnectionError);
    expect((error as Error).message).toContain(url);
    expect((error as Error).message).toMatch(/BT_CHAIN_ENDPOINT/);
    const delays = warnings.map((w) => w?.delayMs as number);
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(delays.slice(0, 4)).toEqual([10, 20, 40, 80].slice(0, Math.min(4, delays.length)));
    expect(Math.max(...delays)).toBe(80);
  });
});
