import type { SubmittableResult } from "@polkadot/api";
import type { Codec } from "@polkadot/types/types";
import type { SubtensorClient } from "./client.js";
import { rawCommitmentInfo } from "./commitment-codec.js";
import { readCommitmentText } from "./commitments.js";
import { buildCredentialCommitment, type ReadCredentials } from "./credentials.js";
import { ChainError, ChainTimeoutError, ExtrinsicFailedError } from "./errors.js";
import { type ChainView, codecNumber, constantNumber, hasStorage, storage } from "./runtime.js";
import { extrinsicSigner, type HotkeySigner } from "./wallet/signer.js";

/**
 * The commit rate limit as the connected runtime defines it (spec/chain.md §5): older
 * runtimes (spec 218, 240) allow one commit per `RateLimit` blocks; newer ones charge
 * max(100, payload bytes) per commit against `MaxSpace` per subnet epoch.
 */
export type CommitRateLimit =
  | { readonly kind: "blocks"; readonly rateLimitBlocks: number; readonly lastCommitBlock: number | null }
  | {
      readonly kind: "space";
      readonly maxSpace: number;
      readonly usedSpace: number;
      readonly lastEpoch: number | null;
      readonly currentEpoch: number;
      readonly requiredSpace: number;
    }
  | { readonly kind: "none" };

export interface CommitAllowance {
  readonly allowed: boolean;
  /** First block at which a commit would pass, when the runtime lets us compute it. */
  readonly retryAtBlock: number | null;
  readonly limit: CommitRateLimit;
}

/** Bytes the pallet charges for one commit of `payloadLength` raw bytes. */
export function requiredCommitSpace(payloadLength: number): number {
  return Math.max(100, payloadLength);
}

function optionalNumber(value: Codec): number | null {
  const option = value as Codec & { isSome?: boolean; isNone?: boolean };
  if (option.isNone === true || value.isEmpty) return null;
  return codecNumber(value);
}

/**
 * Whether a commit by `hotkey` included at block `inclusionBlock` would pass the
 * runtime's rate limit, read from the runtime's own constants and storage.
 */
export async function readCommitAllowance(
  view: ChainView,
  netuid: number,
  hotkey: string,
  inclusionBlock: number,
  payloadLength: number,
): Promise<CommitAllowance> {
  if (hasStorage(view, "Commitments", "UsedSpaceOf") && hasStorage(view, "Commitments", "MaxSpace")) {
    const maxSpace = codecNumber(await storage(view, "Commitments", "MaxSpace")());
    const usage = (await storage(view, "Commitments", "UsedSpaceOf")(netuid, hotkey)).toJSON() as {
      lastEpoch?: number | string;
      usedSpace?: number | string;
    } | null;
    let currentEpoch: number;
    let nextEpochBlock: number | null = null;
    if (hasStorage(view, "SubtensorModule", "SubnetEpochIndex")) {
      // A per-subnet counter: when it advances is not a function of the block number.
      currentEpoch = codecNumber(await storage(view, "SubtensorModule", "SubnetEpochIndex")(netuid));
    } else {
      const tempo = codecNumber(await storage(view, "SubtensorModule", "Tempo")(netuid));
      currentEpoch = Math.floor((inclusionBlock + netuid + 1) / (tempo + 1));
      nextEpochBlock = (currentEpoch + 1) * (tempo + 1) - netuid - 1;
    }
    const lastEpoch = usage?.lastEpoch === undefined ? null : Number(usage.lastEpoch);
    const usedSpace = lastEpoch === currentEpoch ? Number(usage?.usedSpace ?? 0) : 0;
    const requiredSpace = requiredCommitSpace(payloadLength);
    const allowed = usedSpace + requiredSpace <= maxSpace;
    return {
      allowed,
      retryAtBlock: allowed ? inclusionBlock : nextEpochBlock,
      limit: { kind: "space", maxSpace, usedSpace, lastEpoch, currentEpoch, requiredSpace },
    };
  }
  const rateLimitBlocks =
    constantNumber(view, "Commitments", "RateLimit") ??
    (hasStorage(view, "Commitments", "RateLimit")
      ? codecNumber(await storage(view, "Commitments", "RateLimit")())
      : undefined);
  if (rateLimitBlocks === undefined)
    return { allowed: true, retryAtBlock: inclusionBlock, limit: { kind: "none" } };
  const lastCommitBlock = hasStorage(view, "Commitments", "LastCommitment")
    ? optionalNumber(await storage(view, "Commitments", "LastCommitment")(netuid, hotkey))
    : null;
  const retryAtBlock = lastCommitBlock === null ? inclusionBlock : lastCommitBlock + rateLimitBlocks;
  return {
    allowed: inclusionBlock >= retryAtBlock,
    retryAtBlock,
    limit: { kind: "blocks", rateLimitBlocks, lastCommitBlock },
  };
}

export interface InclusionResult {
  readonly blockHash: string;
  readonly blockNumber: number;
}

function moduleErrorName(client: SubtensorClient, result: SubmittableResult): string | undefined {
  const error = result.dispatchError;
  if (!error) return undefined;
  if (error.isModule) {
    const meta = client.api.registry.findMetaError(error.asModule);
    return `${meta.section}.${meta.name}`;
  }
  return error.type;
}

/**
 * Signs `Commitments.set_commitment(netuid, {fields: [RawN(payload)]})` with the hotkey
 * (immortal era, as the reference SDK), submits it and resolves once its block is
 * finalized; a failed dispatch rejects with the runtime error's name.
 */
export async function submitCommitment(
  client: SubtensorClient,
  signer: HotkeySigner,
  netuid: number,
  payload: Uint8Array,
  options: { timeoutMs?: number } = {},
): Promise<InclusionResult> {
  const api = client.api;
  const section = (api.tx as Record<string, Record<string, unknown> | undefined>).commitments;
  if (typeof section?.setCommitment !== "function") {
    throw new ChainError("the connected runtime has no Commitments.set_commitment call", {
      specVersion: api.runtimeVersion.specVersion.toNumber(),
    });
  }
  const tx = api.tx.commitments!.setCommitment!(netuid, rawCommitmentInfo(payload));
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise<InclusionResult>((resolve, reject) => {
    let unsubscribe: (() => void) | undefined;
    let settled = false;
    const finish = (error: Error | null, value?: InclusionResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe?.();
      if (error) reject(error);
      else resolve(value as InclusionResult);
    };
    const timer = setTimeout(
      () =>
        finish(
          new ChainTimeoutError(`set_commitment was not finalized within ${timeoutMs} ms`, {
            netuid,
            hotkey: signer.ss58,
          }),
        ),
      timeoutMs,
    );
    tx.signAndSend(
      signer.ss58,
      { signer: extrinsicSigner(signer, api.registry), era: 0, nonce: -1 },
      (result: SubmittableResult) => {
        const status = result.status;
        if (status.isInBlock || status.isFinalized) {
          const failure = moduleErrorName(client, result);
          if (failure) {
            const module = failure.split(".").pop();
            finish(
              new ExtrinsicFailedError(`set_commitment failed on chain: ${failure}`, module, {
                netuid,
                hotkey: signer.ss58,
              }),
            );
            return;
          }
        }
        if (status.isFinalized) {
          const blockHash = status.asFinalized.toHex();
          api.rpc.chain
            .getHeader(blockHash)
            .then((header) => finish(null, { blockHash, blockNumber: header.number.toNumber() }))
            .catch((error: unknown) => finish(error instanceof Error ? error : new Error(String(error))));
        } else if (status.isDropped || status.isInvalid || status.isUsurped) {
          finish(
            new ExtrinsicFailedError(
              `set_commitment was ${status.type.toLowerCase()} by the pool`,
              undefined,
              {
                netuid,
                hotkey: signer.ss58,
              },
            ),
          );
        }
      },
    )
      .then((unsub) => {
        if (settled) unsub();
        else unsubscribe = unsub;
      })
      .catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        finish(
          new ExtrinsicFailedError(`set_commitment was rejected: ${message}`, undefined, {
            netuid,
            hotkey: signer.ss58,
          }),
        );
      });
  });
}

export type CommitOutcome =
  | { readonly status: "unchanged" }
  | { readonly status: "committed"; readonly blockHash: string; readonly blockNumber: number }
  | {
      readonly status: "rate-limited";
      readonly retryAtBlock: number | null;
      readonly limit: CommitRateLimit;
    };

const RATE_LIMIT_ERRORS = new Set(["CommitmentSetRateLimitExceeded", "SpaceLimitExceeded"]);

/**
 * Publishes the miner's read credentials in the 128-character format, but only when
 * the on-chain string differs, and only when the runtime's rate limit allows it now;
 * otherwise reports when to try again. A successful commit is read back at its block.
 */
export async function ensureCredentialsCommitted(
  client: SubtensorClient,
  signer: HotkeySigner,
  netuid: number,
  credentials: ReadCredentials,
  options: { timeoutMs?: number } = {},
): Promise<CommitOutcome> {
  const desired = buildCredentialCommitment(credentials);
  const current = await client.call("own commitment", () =>
    readCommitmentText(client.api, netuid, signer.ss58),
  );
  if (current === desired) return { status: "unchanged" };

  const payload = new TextEncoder().encode(desired);
  const head = await client.currentBlock();
  const allowance = await client.call("commit rate limit", () =>
    readCommitAllowance(client.api, netuid, signer.ss58, head + 1, payload.length),
  );
  if (!allowance.allowed) {
    return { status: "rate-limited", retryAtBlock: allowance.retryAtBlock, limit: allowance.limit };
  }
  let inclusion: InclusionResult;
  try {
    inclusion = await submitCommitment(client, signer, netuid, payload, options);
  } catch (error) {
    if (error instanceof ExtrinsicFailedError && error.module && RATE_LIMIT_ERRORS.has(error.module)) {
      const after = await client.call("commit rate limit", async () =>
        readCommitAllowance(
          client.api,
          netuid,
          signer.ss58,
          (await client.currentBlock()) + 1,
          payload.length,
        ),
      );
      return { status: "rate-limited", retryAtBlock: after.retryAtBlock, limit: after.limit };
    }
    throw error;
  }
  const stored = await client.call("commitment read-back", async () =>
    readCommitmentText(await client.api.at(inclusion.blockHash), netuid, signer.ss58),
  );
  if (stored !== desired) {
    throw new ChainError("the commitment read back from the chain differs from what was committed", {
      netuid,
      hotkey: signer.ss58,
      blockHash: inclusion.blockHash,
    });
  }
  return { status: "committed", blockHash: inclusion.blockHash, blockNumber: inclusion.blockNumber };
}
