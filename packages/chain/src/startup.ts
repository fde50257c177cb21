import { type BasicLogger, silentLogger } from "@grail/log";
import { TRAINER_UID } from "@grail/protocol";
import type { SubtensorClient } from "./client.js";
import { type CommitOutcome, ensureCredentialsCommitted } from "./commit.js";
import { type NeuronBucket, readSubnetBuckets, type SubnetBuckets } from "./commitments.js";
import type { ReadCredentials } from "./credentials.js";
import { ensureRegistered, type RegistrationHint } from "./neurons.js";
import type { HotkeySigner } from "./wallet/signer.js";

export interface MinerChainStartupInput {
  readonly client: SubtensorClient;
  readonly signer: HotkeySigner;
  readonly netuid: number;
  readonly credentials: ReadCredentials;
  /** Names used in the "not registered" message's btcli command. */
  readonly hint?: RegistrationHint;
  readonly commitTimeoutMs?: number;
  readonly logger?: BasicLogger;
}

export interface MinerChainStartup {
  readonly uid: number;
  readonly commitment: CommitOutcome;
  /** The trainer's (UID 0) bucket for checkpoints; null when it has published none. */
  readonly trainer: NeuronBucket | null;
  readonly buckets: SubnetBuckets;
}

/**
 * The miner's chain steps at start (spec/chain.md §4.2, with the fixes of §10): the
 * registration check (HotkeyNotRegisteredError when absent), the credential commit
 * when the on-chain string differs and the rate limit allows, then the subnet's
 * buckets with the trainer's. A rate-limited commit is reported, not fatal: the
 * caller retries from its window loop.
 */
export async function runMinerChainStartup(input: MinerChainStartupInput): Promise<MinerChainStartup> {
  const logger = input.logger ?? silentLogger;
  const uid = await ensureRegistered(input.client, input.netuid, input.signer.ss58, input.hint);
  logger.info("hotkey registered", { netuid: input.netuid, uid, hotkey: input.signer.ss58 });

  const commitment = await ensureCredentialsCommitted(
    input.client,
    input.signer,
    input.netuid,
    input.credentials,
    input.commitTimeoutMs === undefined ? {} : { timeoutMs: input.commitTimeoutMs },
  );
  if (commitment.status === "rate-limited") {
    logger.warn("credential commitment is rate limited; will retry", {
      retryAtBlock: commitment.retryAtBlock,
      limit: commitment.limit.kind,
    });
  } else {
    logger.info(`credential commitment ${commitment.status}`, { netuid: input.netuid, uid });
  }

  const buckets = await readSubnetBuckets(input.client, input.netuid);
  const trainer = buckets.byUid.get(TRAINER_UID) ?? null;
  if (!trainer)
    logger.warn("the trainer (UID 0) has no readable bucket commitment", { netuid: input.netuid });
  return { uid, commitment, trainer, buckets };
}
