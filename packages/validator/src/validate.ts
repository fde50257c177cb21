import { type WindowTask, windowTaskFromMetadata } from "@grail/pipeline";
import { errorMessage } from "@grail/storage";
import { type CheckId, CheckLedger } from "./checks.js";
import type { LoadedCheckpoint, WindowValidationInput } from "./input.js";
import { finishReport, type ValidationReport, type Verdict } from "./report.js";
import { checkGroup, MODEL_CHECKS } from "./rollout-checks.js";
import { checkedGroupsOf, distributionGroupsOf, type SamplingContext } from "./sampling.js";
import { checkFileStructure, groupRows, readCheckedWindowFile, rowSubject } from "./window-file.js";

/**
 * The checkpoint the validator would select (§5.7) and the task its metadata sets; a checkpoint
 * that cannot be loaded or whose metadata is unusable is noted and leaves both null.
 */
async function selectCheckpoint(
  input: WindowValidationInput,
  ledger: CheckLedger,
): Promise<{ ckpt: LoadedCheckpoint | null; task: WindowTask | null }> {
  let ckpt: LoadedCheckpoint | null;
  try {
    ckpt = await input.loadCheckpoint();
  } catch (err) {
    ckpt = null;
    ledger.note("checkpoint_window", `checkpoint could not be loaded: ${errorMessage(err)}`);
  }
  let task: WindowTask | null = null;
  if (ckpt) {
    try {
      task = windowTaskFromMetadata(ckpt.metadata);
    } catch (err) {
      ledger.note(
        "checkpoint_window",
        `checkpoint ${ckpt.window} metadata is unusable: ${errorMessage(err)}`,
      );
    }
  }
  return { ckpt, task };
}

/**
 * Runs every check of spec/protocol.md §7 that needs no other miner on one window file: the file's
 * discovery rules, its structure over all rows, and for the selected rollouts the signatures, the
 * prompt, the proofs recomputed with our engine at the challenged positions, termination,
 * logprobs, reward and the sampling distribution, then the GRPO group rules. Copycat detection,
 * which compares miners, is reported as not run.
 */
export async function validateWindowFile(input: WindowValidationInput): Promise<ValidationReport> {
  const started = Date.now();
  const ledger = new CheckLedger();
  const progress = input.progress ?? (() => undefined);
  const report = (
    verdict: Verdict | null,
    extra: Partial<ValidationReport> & { rolloutsChecked?: number } = {},
  ): ValidationReport => finishReport(input, ledger, started, verdict, extra);

  // §7.1: discovery and download.
  const file = await readCheckedWindowFile(input, ledger);
  if (!file) return report(null);
  ledger.notRun(
    "copycat",
    "file",
    "not run here: needs the other miners' window files of this window and interval (completion digests are compared across miners)",
  );
  const { rows } = file;
  const groupsOf = groupRows(rows);

  // Without a checkpoint the window is skipped.
  progress("loading the checkpoint");
  const { ckpt, task } = await selectCheckpoint(input, ledger);

  // §7.2 and the model-free parts of §7.4/§7.5, over all rows.
  checkFileStructure(ledger, file, groupsOf, { ...input, ckpt, task });
  if (!ckpt) {
    for (const id of ["checkpoint_window", ...MODEL_CHECKS] as CheckId[]) {
      ledger.notRun(id, "file", "no READY checkpoint before the window: validators skip it");
    }
  }

  const base = { rows: rows.length, groups: groupsOf.size, checkpointWindow: ckpt?.window ?? null };
  if (ledger.finish(0).some((c) => c.fails && c.severity === "file")) return report(null, base);
  // Without a checkpoint validators skip the window; a file that is already broken still says so.
  if (!ckpt || !task) {
    return report(ledger.finish(0).some((c) => c.fails) ? null : "no_checkpoint", base);
  }

  // §7.3: which rollouts get the per-rollout checks.
  const sampling: SamplingContext = {
    hotkey: input.hotkey,
    challengeRandomness: input.challengeRandomness,
    groupsOf,
    records: rows,
  };
  const checkedGroups = checkedGroupsOf(input.selection ?? { kind: "all" }, sampling);
  let rolloutsChecked = 0;
  for (const g of checkedGroups) rolloutsChecked += groupsOf.get(g)!.length;
  const distributionGroups = distributionGroupsOf(input.distribution ?? "sampled", checkedGroups, sampling);

  // §7.4, group by group.
  const env = input.environments(task.envId, task.envParams);
  let done = 0;
  for (const g of checkedGroups) {
    const members = groupsOf.get(g)!;
    progress(`group ${g}: ${members.length} rollouts (${done}/${rolloutsChecked} checked)`);
    try {
      await checkGroup({
        input,
        ledger,
        rows,
        members,
        group: g,
        ckpt,
        task,
        env,
        distribution: distributionGroups.has(g),
      });
    } catch (err) {
      // The reference counts a validator exception as a hard failure of the rollout.
      for (const i of members) {
        ledger.fail("proof_valid", rowSubject(i), {
          row: i,
          message: `validator error: ${errorMessage(err)}`,
        });
      }
    }
    done += members.length;
  }
  return report(null, { ...base, checkedGroups, rolloutsChecked });
}
