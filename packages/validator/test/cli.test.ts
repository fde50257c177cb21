import { describe, expect, it } from "vitest";
import { runValidateCli } from "../src/index.js";

function captured(env: NodeJS.ProcessEnv) {
  const out = { stdout: "", stderr: "" };
  const sink = (key: "stdout" | "stderr") =>
    ({
      write: (text: string) => {
        out[key] += text;
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  return { out, io: { stdout: sink("stdout"), stderr: sink("stderr"), env, envFile: null } };
}

// Everything given locally, so no chain or bucket is reached.
const OFFLINE = [
  "--window",
  "300",
  "--hotkey",
  "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
  "--block-hash",
  `0x${"ab".repeat(32)}`,
  "--challenge-randomness",
  "cd".repeat(32),
  "--file",
  "/nonexistent/window.parquet",
  "--checkpoint-dir",
  "/nonexistent/checkpoint",
  "--checkpoint-window",
  "270",
];

describe("pnpm validate", () => {
  it("reads the miner's settings (cache root, GRAIL_PYTHON): one they refuse stops it, naming the variable", async () => {
    const { out, io } = captured({ GRAIL_ENGINE_PROFILE: "maybe" });
    expect(await runValidateCli(OFFLINE, io)).toBe(2);
    expect(out.stderr).toMatch(/GRAIL_ENGINE_PROFILE="maybe"/);
  });
});
