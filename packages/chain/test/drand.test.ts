import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { combineRandomness, DRAND_QUICKNET, noDrandRandomness } from "@grail/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DrandBeacon,
  DrandClient,
  DrandUnavailableError,
  parseBeacon,
  verifyQuicknetBeacon,
  windowRandomness,
} from "../src/index.js";

// Real quicknet beacons, as the relays serve them:
// round 1000 from opentensor/subtensor pallets/drand/src/tests.rs (DRAND_PULSE);
// round 657413 from the README of mcdcam/python-drand-verify (verify_quicknet example).
const ROUND_1000: DrandBeacon = {
  round: 1000,
  randomness: "fe290beca10872ef2fb164d2aa4442de4566183ec51c56ff3cd603d930e54fdd",
  signature:
    "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39",
};
const ROUND_657413: DrandBeacon = {
  round: 657413,
  randomness: "fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587",
  signature:
    "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b",
};
const timeOfRound = (round: number) => DRAND_QUICKNET.genesisTime + (round - 1) * DRAND_QUICKNET.period;

function flipHex(hex: string, at = 10): string {
  const c = hex[at] === "0" ? "1" : "0";
  return hex.slice(0, at) + c + hex.slice(at + 1);
}

const BLOCK_HASH = "0x3f1c1d1e6a8a5b2e8c3d3b9d1b0e5b8a3a4f1e2d3c4b5a69788796a5b4c3d2e1";

let server: Server;
let base: string;
const hits: string[] = [];
const pending: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? "");
    const [, relay, chain, , round] = (req.url ?? "").split("/");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (chain !== DRAND_QUICKNET.chainHash) return send(404, { error: "unknown chain" });
    const beacon = round === "latest" ? ROUND_657413 : round === "1000" ? ROUND_1000 : null;
    switch (relay) {
      case "valid":
        return beacon ? send(200, { ...beacon, previous_signature: undefined }) : send(404, {});
      case "tampered":
        return send(200, { ...ROUND_657413, randomness: flipHex(ROUND_657413.randomness) });
      case "resigned":
        // randomness recomputed to match, but the signature is not the group's
        return send(200, {
          ...ROUND_657413,
          signature: ROUND_1000.signature,
          randomness: ROUND_1000.randomness,
        });
      case "garbage":
        res.writeHead(200, { "content-type": "application/json" });
        return res.end("<html>");
      case "slow":
        pending.push(res);
        return;
      default:
        return send(500, { error: "down" });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of pending) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const client = (relays: string[], extra: Partial<ConstructorParameters<typeof DrandClient>[0]> = {}) =>
  new DrandClient({
    relays: relays.map((r) => `${base}/${r}`),
    now: () => timeOfRound(ROUND_657413.round) + 1,
    timeoutMs: 2_000,
    ...extra,
  });

describe("quicknet beacon verification", () => {
  it("accepts real beacons", () => {
    expect(verifyQuicknetBeacon(ROUND_1000)).toBe(true);
    expect(verifyQuicknetBeacon(ROUND_657413)).toBe(true);
  });

  it("rejects tampered randomness, signature and round", () => {
    expect(verifyQuicknetBeacon({ ...ROUND_1000, randomness: flipHex(ROUND_1000.randomness) })).toBe(false);
    const badSig = flipHex(ROUND_1000.signature, 40);
    expect(verifyQuicknetBeacon({ ...ROUND_1000, signature: badSig })).toBe(false);
    expect(verifyQuicknetBeacon({ ...ROUND_1000, round: 1001 })).toBe(false);
    expect(verifyQuicknetBeacon({ ...ROUND_1000, signature: "00".repeat(48) })).toBe(false);
  });

  it("checks the relay's JSON shape", () => {
    expect(parseBeacon({ ...ROUND_1000, randomness: ROUND_1000.randomness.toUpperCase() }).randomness).toBe(
      ROUND_1000.randomness,
    );
    expect(() => parseBeacon({ ...ROUND_1000, round: "1000" })).toThrow(/round/);
    expect(() => parseBeacon({ ...ROUND_1000, signature: "abcd" })).toThrow(/G1/);
    expect(() => parseBeacon(null)).toThrow();
  });
});

describe("drand client over HTTP relays", () => {
  it("fails over past down, garbage, tampered and wrongly signed relays to the first verified beacon", async () => {
    const fetched = await client(["down", "garbage", "tampered", "resigned", "valid"]).latest();
    expect(fetched.beacon).toEqual(ROUND_657413);
    expect(fetched.relay).toBe(`${base}/valid`);
    expect(hits).toContain(`/valid/${DRAND_QUICKNET.chainHash}/public/latest`);
  });

  it("times out a relay that does not answer", async () => {
    const fetched = await client(["slow", "valid"], { timeoutMs: 100 }).latest();
    expect(fetched.relay).toBe(`${base}/valid`);
  });

  it("fetches and verifies a given round", async () => {
    expect((await client(["tampered", "valid"]).round(1000)).beacon).toEqual(ROUND_1000);
  });

  it("refuses a validly signed but stale latest beacon", async () => {
    const farLater = client(["valid"], { now: () => timeOfRound(ROUND_657413.round + 1_000) });
    await expect(farLater.latest()).rejects.toThrow(DrandUnavailableError);
  });

  it("reports every relay's failure when none serves a verified beacon", async () => {
    const error = await client(["down", "tampered"])
      .latest()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DrandUnavailableError);
    const failures = (error as DrandUnavailableError).context.failures as Array<{
      relay: string;
      error: string;
    }>;
    expect(failures.map((f) => f.relay)).toEqual([`${base}/down`, `${base}/tampered`]);
    expect(failures[1]?.error).toMatch(/does not verify/);
  });
});

describe("window randomness", () => {
  it("mixes the block hash with the verified beacon", async () => {
    const result = await windowRandomness(BLOCK_HASH, client(["valid"]));
    expect(result).toEqual({
      randomness: combineRandomness(BLOCK_HASH, ROUND_657413.randomness),
      useDrand: true,
      drandRound: ROUND_657413.round,
    });
  });

  it("uses the spec's no-drand value, never random bytes, when drand is off or every relay fails", async () => {
    const expected = { randomness: noDrandRandomness(BLOCK_HASH), useDrand: false, drandRound: null };
    expect(await windowRandomness(BLOCK_HASH, null)).toEqual(expected);
    expect(await windowRandomness(BLOCK_HASH, client(["down", "tampered"]))).toEqual(expected);
    expect(expected.randomness).toMatch(/^[0-9a-f]{64}$/);
  });
});
