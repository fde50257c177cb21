import {
  buildCredentialCommitment,
  type CommitOutcome,
  HotkeyNotRegisteredError,
  type HotkeySigner,
  type NeuronBucket,
  type ReadCredentials,
  type RegistrationHint,
  readCommitmentText,
  readSubnetBuckets,
  readUid,
  registrationCommand,
  runMinerChainStartup,
  type SubtensorClient,
} from "@grail/chain";
import type { Logger } from "@grail/log";
import { GrailError, TRAINER_UID } from "@grail/protocol";

export interface ChainStartInput {
  client: SubtensorClient;
  signer: HotkeySigner;
  netuid: number;
  credentials: ReadCredentials;
  hint: RegistrationHint;
  log: Logger;
}

/** What a start found on chain; `commitment` is null in a dry run, which writes nothing. */
export interface ChainStart {
  uid: number | null;
  trainer: NeuronBucket | null;
  commitment: CommitOutcome | null;
}

/** A start's chain steps: registration check, credential commitment, the trainer's bucket. */
export async function chainStart(input: ChainStartInput): Promise<ChainStart> {
  try {
    const s = await runMinerChainStartup({
      client: input.client,
      signer: input.signer,
      netuid: input.netuid,
      credentials: input.credentials,
      hint: input.hint,
      logger: input.log.child({ component: "chain" }),
    });
    input.log.notice("registered", { netuid: input.netuid, uid: s.uid, commitment: s.commitment.status });
    return { uid: s.uid, trainer: s.trainer, commitment: s.commitment };
  } catch (err) {
    if (err instanceof HotkeyNotRegisteredError) throw new ChainStartError(err.message, err.exitCode ?? 1);
    throw err;
  }
}

/** The hotkey is not registered: the message names the command that registers it. */
export class ChainStartError extends GrailError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message, { exitCode });
  }
}

/**
 * The chain steps of a start, read only: the registration is looked up (a missing one is reported
 * with the command that registers, and the run goes on), the credential commitment is compared
 * with what a real start would write, and the trainer's bucket is read. No extrinsic is sent.
 */
export async function dryRunChainStart(input: ChainStartInput): Promise<ChainStart> {
  const { client, signer, netuid, log } = input;
  const uid = await client.call(`registration of ${signer.ss58} on subnet ${netuid}`, () =>
    readUid(client.api, netuid, signer.ss58),
  );
  if (uid === null) {
    log.warn(
      `dry run: hotkey ${signer.ss58} is not registered on subnet ${netuid}; a real start stops here. Register it with: ${registrationCommand(netuid, input.hint)}`,
    );
  } else {
    log.notice("registered", { netuid, uid });
  }
  const current = await client.call("own commitment", () =>
    readCommitmentText(client.api, netuid, signer.ss58),
  );
  const unchanged = current === buildCredentialCommitment(input.credentials);
  log.notice(
    unchanged
      ? "dry run: the credential commitment on chain is current; a real start would write nothing"
      : "dry run: a real start would commit the bucket's read credentials (the chain holds none or others); nothing is written",
  );
  const buckets = await readSubnetBuckets(client, netuid);
  const trainer = buckets.byUid.get(TRAINER_UID) ?? null;
  if (!trainer) log.warn("the trainer (UID 0) has no readable bucket commitment", { netuid });
  return { uid, trainer, commitment: null };
}
