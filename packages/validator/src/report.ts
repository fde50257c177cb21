import { CHECK_SPECS, type CheckId, type CheckLedger, type CheckOutcome } from "./checks.js";
import type { WindowValidationInput } from "./input.js";

export type Verdict = "pass" | "fail" | "no_file" | "no_checkpoint";

export interface ValidationReport {
  hotkey: string;
  window: number;
  blockHash: string;
  challengeRandomness: string;
  checkpointWindow: number | null;
  source: string | null;
  verdict: Verdict;
  rows: number;
  groups: number;
  /** rollout_group values whose rows got the per-rollout checks. */
  checkedGroups: number[];
  rolloutsChecked: number;
  checks: CheckOutcome[];
  /** Hard failures and soft checks over their ban count, by check id. */
  failingChecks: CheckId[];
  durationMs: number;
}

/**
 * The report of one validation from the ledger: the verdict is `no_file` when a file check
 * fails, `fail` when any other check fails, else `pass`, unless `verdict` decides it.
 */
export function finishReport(
  input: Pick<WindowValidationInput, "hotkey" | "window" | "blockHash" | "challengeRandomness" | "file">,
  ledger: CheckLedger,
  startedMs: number,
  verdict: Verdict | null,
  extra: Partial<ValidationReport> & { rolloutsChecked?: number } = {},
): ValidationReport {
  const checks = ledger.finish(extra.rolloutsChecked ?? 0);
  const failing = checks.filter((c) => c.fails);
  const computed: Verdict = failing.some((c) => c.severity === "file")
    ? "no_file"
    : failing.length > 0
      ? "fail"
      : "pass";
  return {
    hotkey: input.hotkey,
    window: input.window,
    blockHash: input.blockHash,
    challengeRandomness: input.challengeRandomness,
    checkpointWindow: null,
    source: input.file?.source ?? null,
    rows: 0,
    groups: 0,
    checkedGroups: [],
    rolloutsChecked: 0,
    ...extra,
    verdict: verdict ?? computed,
    checks,
    failingChecks: failing.map((c) => c.id),
    durationMs: Date.now() - startedMs,
  };
}

const VERDICT_TEXT: Record<ValidationReport["verdict"], string> = {
  pass: "PASS",
  fail: "FAIL",
  no_file: "NO FILE",
  no_checkpoint: "NO CHECKPOINT",
};

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

/**
 * The per-check table and the verdict, as `pnpm validate` prints them; each line also names the
 * outcome as the subnet's validator records it when the check fails.
 */
export function formatReport(report: ValidationReport, options: { failuresPerCheck?: number } = {}): string {
  const limit = options.failuresPerCheck ?? 3;
  const lines: string[] = [];
  lines.push(
    `window ${report.window} of ${report.hotkey}` +
      (report.checkpointWindow !== null ? `, checkpoint ${report.checkpointWindow}` : "") +
      (report.source ? `, ${report.source}` : ""),
  );
  lines.push(
    `${report.rows} rows in ${report.groups} groups; per-rollout checks on ${report.rolloutsChecked} rollouts` +
      (report.checkedGroups.length > 0 ? ` (groups ${report.checkedGroups.join(", ")})` : ""),
  );
  lines.push("");
  const header = [
    pad("check", 26),
    pad("spec", 16),
    pad("kind", 5),
    pad("pass", 6),
    pad("fail", 6),
    pad("n/a", 5),
    pad("result", 14),
    "the validator's name",
  ];
  lines.push(header.join(" "));
  lines.push("-".repeat(header.join(" ").length + 4));
  for (const c of report.checks) {
    const ran = c.passed + c.failed;
    const result = c.fails
      ? c.severity === "soft"
        ? `FAIL (${c.failed} ≥ ${c.banAt})`
        : "FAIL"
      : c.failed > 0
        ? `ok (${c.failed} < ${c.banAt})`
        : ran === 0
          ? "not run"
          : "ok";
    lines.push(
      [
        pad(c.id, 26),
        pad(c.spec, 16),
        pad(c.severity, 5),
        pad(String(c.passed), 6),
        pad(String(c.failed), 6),
        pad(String(c.notRun), 5),
        pad(result, 14),
        c.validatorName,
      ].join(" "),
    );
  }
  const detailed = report.checks.filter((c) => c.failed > 0 || (c.passed === 0 && c.notes.length > 0));
  if (detailed.length > 0) {
    lines.push("");
    for (const c of detailed) {
      lines.push(`${c.id} — ${CHECK_SPECS.get(c.id)?.what ?? ""}`);
      for (const f of c.failures.slice(0, limit)) lines.push(`  ✗ ${f.message}`);
      if (c.failures.length > limit) lines.push(`  … and ${c.failures.length - limit} more`);
      for (const n of c.notes) lines.push(`  · ${n}`);
    }
  }
  lines.push("");
  const reason =
    report.verdict === "pass"
      ? "every hard check passed and no soft check reached its ban count"
      : report.verdict === "no_file"
        ? "validators would treat the window as missing"
        : report.verdict === "no_checkpoint"
          ? "no READY checkpoint before the window: validators skip it"
          : `failing: ${report.failingChecks.join(", ")}`;
  lines.push(
    `verdict: ${VERDICT_TEXT[report.verdict]} — ${reason} (${(report.durationMs / 1000).toFixed(1)} s)`,
  );
  return lines.join("\n");
}

/** One line per window for the miner's log. */
export function verdictLine(report: ValidationReport): string {
  const base = `window ${report.window}: ${VERDICT_TEXT[report.verdict]}`;
  if (report.verdict === "pass") {
    return `${base} (${report.rolloutsChecked}/${report.rows} rollouts checked, checkpoint ${report.checkpointWindow})`;
  }
  return `${base} (${report.failingChecks.join(", ") || "no file"})`;
}
