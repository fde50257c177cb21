import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { checkGpuLayout, loadConfig, settingEntries } from "../src/index.js";
import { HOME, tempDir, writeFile } from "./helpers.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const example = readFileSync(path.join(repoRoot, ".env.example"), "utf8");
const dir = tempDir("grail-env-example-");

/** The commented assignments of one part of the file (before the first "Example:" heading, or one example). */
function assignments(part: string): Array<[string, string]> {
  return part
    .split("\n")
    .map((line) => /^# ([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!]);
}

const [reference, ...examples] = example.split(/^# ─+ Example: /m);
const documented = assignments(reference!);

function load(vars: Array<[string, string]>, name: string) {
  const file = writeFile(path.join(dir, name, ".env"), vars.map(([k, v]) => `${k}=${v}`).join("\n"));
  return loadConfig({ env: { HOME }, envFile: file, cwd: "/srv/miner", registerSecrets: false });
}

describe(".env.example", () => {
  test("documents every setting once, with a comment line above it, and nothing the schema lacks", () => {
    const names = documented.map(([k]) => k);
    const schemaNames = settingEntries().map((e) => e.setting.env);
    expect([...names].sort()).toEqual([...schemaNames].sort());
    const lines = reference!.split("\n");
    for (const name of names) {
      const at = lines.findIndex((l) => l.startsWith(`# ${name}=`));
      const above = lines[at - 1] ?? "";
      expect(above.startsWith("# ") && !/^# [A-Z][A-Z0-9_]*=/.test(above) ? true : `${name}: ${above}`).toBe(
        true,
      );
    }
  });

  test("the defaults it shows are the schema's defaults", () => {
    // CUDA_VISIBLE_DEVICES has no default value to show (unset means every device); it shows an example
    const shown = documented.filter(([k]) => k !== "CUDA_VISIBLE_DEVICES");
    const { origin: _a, ...fromExample } = load(shown, "defaults");
    const { origin: _b, ...fromNothing } = load([], "nothing");
    expect(fromExample).toEqual(fromNothing);
  });

  test("the examples load and pass the GPU layout check", () => {
    expect(examples.map((e) => e.split(" ─")[0])).toEqual([
      "two GPUs (the minimum for a real network)",
      "data-parallel generation on four GPUs",
      "data-parallel generation on eight GPUs",
      "eight GPUs (e.g. 8x A100/H100/H200)",
    ]);
    const two = load(assignments(examples[0]!), "two");
    expect(checkGpuLayout(two.pipeline, two.pipeline.cudaVisibleDevices!.length).summary).toBe(
      "visible GPUs 0..1; generation TP=1 on [0]; proof [1]",
    );
    const fourDp = load(assignments(examples[1]!), "four-dp");
    expect(checkGpuLayout(fourDp.pipeline, fourDp.pipeline.cudaVisibleDevices!.length).summary).toBe(
      "visible GPUs 0..3; generation TP=2 × DP=2 on [0,1,2,3]; proof [1,2,3] beside generation",
    );
    const eightDp = load(assignments(examples[2]!), "eight-dp");
    expect(checkGpuLayout(eightDp.pipeline, eightDp.pipeline.cudaVisibleDevices!.length).summary).toBe(
      "visible GPUs 0..7; generation TP=4 × DP=2 on [0,1,2,3,4,5,6,7]; proof [2,3,6,7] beside generation",
    );
    const eight = load(assignments(examples[3]!), "eight");
    expect(eight.pipeline.groupsPerBatch).toBe(72);
    expect(checkGpuLayout(eight.pipeline, eight.pipeline.cudaVisibleDevices!.length).summary).toBe(
      "visible GPUs 0..7; generation TP=4 on [0,1,2,3]; proof [4,5,6,7]",
    );
  });
});
