import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DROP_REASONS, METRIC_DEFINITIONS, METRIC_NAMES } from "@grail/metrics";
import { describe, expect, it } from "vitest";

/** docs/operations.md lists the metrics an operator can query; it must not drift from the definitions. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const doc = readFileSync(path.join(repoRoot, "docs/operations.md"), "utf8");
const rows = new Map(
  [...doc.matchAll(/^\| `(grail_miner_[a-z0-9_]+)`\s*\| (\w+)\s*\|/gm)].map((m) => [
    m[1] as string,
    m[2] as string,
  ]),
);

describe("docs/operations.md", () => {
  it("lists every exported metric with its type, and no other", () => {
    expect([...rows.keys()].sort()).toEqual([...METRIC_NAMES].sort());
    for (const def of Object.values(METRIC_DEFINITIONS)) expect(rows.get(def.name), def.name).toBe(def.type);
  });

  it("names every drop reason", () => {
    for (const reason of DROP_REASONS) expect(doc).toContain(`\`${reason}\``);
  });
});
