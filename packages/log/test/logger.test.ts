import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { createLogger, REDACTED, registerSecret, SecretRegistry } from "../src/index.js";
import { captureStream, flush } from "./helpers.js";

describe("levels", () => {
  test("verbosity 0 shows lifecycle (notice) and warnings, hides info and debug", async () => {
    const out = captureStream();
    const log = createLogger({ stream: out.stream, json: true });
    log.error("e");
    log.warn("w");
    log.notice("n");
    log.info("i");
    log.debug("d");
    await flush();
    expect(out.lines().map((l) => JSON.parse(l).msg)).toEqual(["e", "w", "n"]);
    expect(log.isLevelEnabled("info")).toBe(false);
  });

  test("-v adds info, -vv adds debug", async () => {
    for (const [verbosity, expected] of [
      [1, ["n", "i"]],
      [2, ["n", "i", "d"]],
    ] as const) {
      const out = captureStream();
      const log = createLogger({ stream: out.stream, json: true, verbosity });
      log.notice("n");
      log.info("i");
      log.debug("d");
      await flush();
      expect(out.lines().map((l) => JSON.parse(l).msg)).toEqual(expected);
    }
  });
});

describe("output format", () => {
  test("JSON lines when the stream is not a TTY", async () => {
    const out = captureStream(false);
    const log = createLogger({ stream: out.stream });
    log.warn("window skipped", { window: 1230, reason: "late" });
    await flush();
    const [line] = out.lines();
    const parsed = JSON.parse(line!);
    expect(parsed).toMatchObject({ level: "warn", msg: "window skipped", window: 1230, reason: "late" });
    expect(new Date(parsed.time).getTime()).not.toBeNaN();
  });

  test("human single lines on a TTY, overridable either way", async () => {
    const tty = captureStream(true);
    const log = createLogger({ stream: tty.stream, colour: false });
    log.warn("two\nlines", { path: "/tmp/x y", n: 4, obj: { a: 1 } });
    await flush();
    const lines = tty.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {3}two\\nlines {2}path="\/tmp\/x y" {2}n=4 {2}obj=\{"a":1\}$/,
    );

    const forcedJson = captureStream(true);
    createLogger({ stream: forcedJson.stream, json: true }).warn("x");
    const forcedHuman = captureStream(false);
    createLogger({ stream: forcedHuman.stream, json: false }).warn("x");
    await flush();
    expect(JSON.parse(forcedJson.lines()[0]!).msg).toBe("x");
    expect(forcedHuman.lines()[0]).toMatch(/WARN +x$/);
  });

  test("colour only when asked or on a TTY", async () => {
    const out = captureStream(true);
    createLogger({ stream: out.stream, colour: true }).error("boom");
    await flush();
    expect(out.lines()[0]).toContain("\x1b[31m");
  });

  test("reserved field names do not clobber the record", async () => {
    const out = captureStream();
    createLogger({ stream: out.stream }).warn("real", { msg: "fake", level: "x", time: 0 });
    await flush();
    expect(JSON.parse(out.lines()[0]!)).toMatchObject({
      msg: "real",
      level: "warn",
      _msg: "fake",
      _level: "x",
      _time: 0,
    });
  });
});

describe("child loggers", () => {
  test("carry fixed fields, merge with call fields, nest", async () => {
    const out = captureStream();
    const root = createLogger({ stream: out.stream, fields: { app: "miner" } });
    const worker = root.child({ component: "worker", gpu: 4 });
    worker.warn("proof slow", { group: 7 });
    worker.child({ gpu: 5 }).warn("moved");
    root.warn("plain");
    await flush();
    const [a, b, c] = out.lines().map((l) => JSON.parse(l));
    expect(a).toMatchObject({ app: "miner", component: "worker", gpu: 4, group: 7, msg: "proof slow" });
    expect(b).toMatchObject({ component: "worker", gpu: 5 });
    expect(c).not.toHaveProperty("component");
  });
});

describe("redaction in log output", () => {
  test("messages, fields, nested objects and errors never print secrets", async () => {
    const secrets = new SecretRegistry();
    secrets.register("R2-WRITE-SECRET-abcdef");
    const out = captureStream();
    const log = createLogger({ stream: out.stream, secrets, verbosity: 2 });
    const err = new Error("PUT failed: signature of R2-WRITE-SECRET-abcdef");
    log.error("upload failed R2-WRITE-SECRET-abcdef", {
      err,
      creds: { accessKeyId: "KEYID", secretAccessKey: "R2-WRITE-SECRET-abcdef" },
      WANDB_API_KEY: "wandb-key-12345",
      seedPhrase: "legal winner thank year wave sausage worth useful legal winner thank yellow",
    });
    log.child({ password: "pw-123456" }).info("child");
    await flush();
    const text = out.lines().join("\n");
    expect(text).not.toContain("R2-WRITE-SECRET");
    expect(text).not.toContain("wandb-key");
    expect(text).not.toContain("pw-123456");
    expect(text).not.toContain("sausage");
    const [first] = out.lines().map((l) => JSON.parse(l));
    expect(first.msg).toBe(`upload failed ${REDACTED}`);
    expect(first.creds).toEqual({ accessKeyId: "KEYID", secretAccessKey: REDACTED });
    expect(first.err.message).toBe(`PUT failed: signature of ${REDACTED}`);
  });

  test("registerSecret feeds every logger that uses the process-wide registry", async () => {
    registerSecret("global-secret-7f3a9");
    const out = captureStream(true);
    createLogger({ stream: out.stream, colour: false }).warn("leak? global-secret-7f3a9", {
      v: "global-secret-7f3a9",
    });
    await flush();
    expect(out.lines()[0]).not.toContain("global-secret-7f3a9");
    expect(out.lines()[0]).toContain(REDACTED);
  });
});

describe("file log", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "grail-log-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("writes redacted JSON lines and rotates by size", async () => {
    const secrets = new SecretRegistry();
    secrets.register("file-secret-123456");
    const file = path.join(dir, "miner.log");
    const out = captureStream(true);
    const log = createLogger({
      stream: out.stream,
      secrets,
      file: { path: file, maxSizeBytes: 2_000, maxFiles: 3 },
    });
    for (let i = 0; i < 120; i++) log.warn(`line ${i} file-secret-123456`, { i });
    await log.close();
    const files = readdirSync(dir).sort();
    // the live file plus exactly maxFiles rotated ones (.1 newest … .3 oldest); older ones are dropped
    expect(files).toEqual(["miner.log", "miner.log.1", "miner.log.2", "miner.log.3"]);
    for (const f of files) expect(statSync(path.join(dir, f)).size).toBeLessThanOrEqual(2_000);
    const all = files.map((f) => readFileSync(path.join(dir, f), "utf8")).join("");
    expect(all).not.toContain("file-secret-123456");
    // rotation order: .1 holds the lines just before the live file's first line
    const firstLive = JSON.parse(readFileSync(file, "utf8").split("\n")[0]!).i as number;
    const lastOfOne = JSON.parse(readFileSync(`${file}.1`, "utf8").trim().split("\n").at(-1)!).i as number;
    expect(lastOfOne).toBe(firstLive - 1);
    const live = readFileSync(file, "utf8").trim().split("\n");
    const last = JSON.parse(live.at(-1)!);
    expect(last).toMatchObject({ level: "warn", msg: `line 119 ${REDACTED}`, i: 119 });
    // closing twice is harmless and later records are dropped, not thrown
    await log.close();
    expect(() => log.warn("after close")).not.toThrow();
  });

  test("appends to an existing file and creates missing directories", async () => {
    const file = path.join(dir, "nested", "deeper", "again.log");
    for (const msg of ["first", "second"]) {
      const log = createLogger({ stream: captureStream().stream, file: { path: file } });
      log.warn(msg);
      await log.close();
    }
    const msgs = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).msg);
    expect(msgs).toEqual(["first", "second"]);
  });
});
