import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  type BucketCredentials,
  readSubnetBuckets,
  resolveEndpoint,
  SubtensorClient,
  WindowClock,
} from "@grail/chain";
import { loadConfig } from "@grail/config";
import {
  bundledDatasetStore,
  CacheDirectorySource,
  createEnvironment,
  DatasetStore,
} from "@grail/environments";
import { MiningEnvironments } from "@grail/pipeline";
import { TRAINER_UID, WINDOW_LENGTH } from "@grail/protocol";
import { CheckpointStore, ObjectStoreClient, parseCheckpointMetadata } from "@grail/storage";
import { ValidatorError, ValidatorSetupError } from "./errors.js";
import type { DistributionScope, RolloutSelection, WindowFileInput } from "./input.js";
import { LocalValidator, type ValidatorChain, type ValidatorCheckpoints } from "./local-validator.js";
import { formatReport } from "./report.js";

export const VALIDATE_USAGE = `Usage: pnpm validate --window W --hotkey SS58 [options]

Validates one miner's window file the way a GRAIL validator does (spec/protocol.md §7, every
check that needs no other miner), recomputing the proofs with the native engine, and prints a
per-check table and a verdict. Exit status: 0 pass, 1 the file fails (or is missing), 2 usage or
set-up error.

Chain (block hashes, upload deadline, bucket commitments):
  --network NAME|URL        finney, test, local or a ws:// URL (default: BT_CHAIN_ENDPOINT, BT_NETWORK, finney)
  --netuid N                subnet (default: BT_NETUID, NETUID, 200)
  --block-hash 0x…          hash of block W (then no chain is needed for it)
  --challenge-randomness H  window_rand (default: sha256 of the hash of block W+30, the validator's no-drand rule)
  --drand H                 drand randomness to mix into window_rand, as a validator with drand does
Miner's window file (default: the bucket the hotkey committed on chain):
  --file PATH               validate a local Parquet file instead of downloading it
  --miner-account ID  --miner-key-id K  --miner-secret S     read credentials of the miner's bucket
Trainer's checkpoint (default: the bucket UID 0 committed on chain):
  --trainer-account ID  --trainer-key-id K  --trainer-secret S
  --checkpoint-dir DIR      a local checkpoint (its metadata.json must carry env_id and generation_params)
  --checkpoint-window C     the checkpoint window that DIR holds
Object store:
  --endpoint URL            S3 endpoint instead of https://<account>.r2.cloudflarestorage.com (R2_ENDPOINT_URL)
  --force-path-style        path-style addressing (local S3 servers)
  --cache DIR               checkpoint cache (default <GRAIL_CACHE_DIR>/validator)
Checks:
  --groups all|validator|G,G,…   rollouts given the per-rollout checks (default all)
  --distribution all|sampled|off P9 scope: one forward pass per completion token (default sampled)
  --datasets cache|bundled  problem sets (default: the fetched datasets when present)
  --backend cpu|cuda        engine backend (default: CUDA when available)
  --threads N               CPU backend threads
  --json                    print the report as JSON
  -h, --help

The miner's settings (.env and the environment) give the cache root (GRAIL_CACHE_DIR, whose
datasets/ the problem sets come from) and the interpreter of the code sandbox (GRAIL_PYTHON).
`;

export interface ValidateIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  /** The miner's `.env`: a path, null for none; default: looked for from the working directory up. */
  readonly envFile?: string | null;
}

class UsageError extends ValidatorError {}

const STRING_OPTIONS = [
  "window",
  "hotkey",
  "network",
  "netuid",
  "block-hash",
  "challenge-randomness",
  "drand",
  "file",
  "miner-account",
  "miner-key-id",
  "miner-secret",
  "trainer-account",
  "trainer-key-id",
  "trainer-secret",
  "checkpoint-dir",
  "checkpoint-window",
  "endpoint",
  "cache",
  "groups",
  "distribution",
  "datasets",
  "backend",
  "threads",
] as const;

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function bucketFromFlags(
  flags: Record<string, string | undefined>,
  who: "miner" | "trainer",
): BucketCredentials | null {
  const account = flags[`${who}-account`];
  const keyId = flags[`${who}-key-id`];
  const secret = flags[`${who}-secret`];
  const given = [account, keyId, secret].filter((v) => v !== undefined).length;
  if (given === 0) return null;
  if (given !== 3) {
    throw new UsageError(`--${who}-account, --${who}-key-id and --${who}-secret go together`);
  }
  return { name: account!, accountId: account!, accessKeyId: keyId!, secretAccessKey: secret! };
}

/** A checkpoint directory given on the command line, standing in for the trainer's bucket. */
async function localCheckpoint(dir: string, window: number): Promise<ValidatorCheckpoints> {
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(await readFile(path.join(dir, "metadata.json"), "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new ValidatorSetupError(`${dir}/metadata.json is not readable JSON: ${(err as Error).message}`, {
      dir,
    });
  }
  const metadata = parseCheckpointMetadata(payload, window, "FULL");
  if (
    !metadata.env_id ||
    !metadata.generation_params ||
    metadata.generation_params.max_tokens === undefined
  ) {
    throw new ValidatorSetupError(
      `${dir}/metadata.json has no env_id/generation_params (a cache directory keeps only the weights' manifest); point --trainer-* at the trainer's bucket instead`,
      { dir },
    );
  }
  return {
    latestReadyCheckpoint: async () => window,
    getMetadata: async () => metadata,
    getCheckpoint: async () => dir,
  };
}

async function chooseDatasets(
  choice: "cache" | "bundled" | undefined,
  cacheRoot: string,
  log: (line: string) => void,
): Promise<DatasetStore> {
  if (choice === "bundled") return bundledDatasetStore();
  const cached = new DatasetStore(new CacheDirectorySource(cacheRoot));
  if (choice === "cache") return cached;
  try {
    await createEnvironment("gsm8k", { split: "train" }, { datasets: cached }).size();
    return cached;
  } catch {
    log(
      "warning: the datasets are not fetched (pnpm datasets:fetch); using the bundled problem set, whose problems only the local network uses — a real window will fail env_prompt_valid",
    );
    return bundledDatasetStore();
  }
}

/** `pnpm validate`: parses the flags, wires chain, buckets and checkpoints, prints the report. */
export async function runValidateCli(argv: readonly string[], io: ValidateIo): Promise<number> {
  const log = (line: string) => io.stderr.write(`${line}\n`);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(STRING_OPTIONS.map((o) => [o, { type: "string" as const }])),
        "force-path-style": { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n\n${VALIDATE_USAGE}`);
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    io.stdout.write(VALIDATE_USAGE);
    return 0;
  }
  const flags = Object.fromEntries(
    STRING_OPTIONS.map((o) => [o, typeof values[o] === "string" ? (values[o] as string) : undefined]),
  ) as Record<(typeof STRING_OPTIONS)[number], string | undefined>;

  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  try {
    const window = integer("window", flags.window);
    const hotkey = flags.hotkey;
    if (window === undefined || !hotkey) throw new UsageError("--window and --hotkey are required");
    if (window % WINDOW_LENGTH !== 0) {
      throw new UsageError(`--window ${window} is not a window start (a multiple of ${WINDOW_LENGTH})`);
    }
    const netuid = integer("netuid", flags.netuid ?? io.env.BT_NETUID ?? io.env.NETUID) ?? 200;
    const groups = flags.groups ?? "all";
    const selection: RolloutSelection =
      groups === "all"
        ? { kind: "all" }
        : groups === "validator"
          ? { kind: "validator" }
          : {
              kind: "groups",
              groups: groups.split(",").map((g) => {
                const n = integer("groups", g.trim());
                return n!;
              }),
            };
    const distribution = oneOf<DistributionScope>("distribution", flags.distribution, [
      "all",
      "sampled",
      "off",
    ]);
    const backend = oneOf("backend", flags.backend, ["cpu", "cuda"] as const);
    const threads = integer("threads", flags.threads);
    const endpointUrl = flags.endpoint ?? io.env.R2_ENDPOINT_URL;
    const forcePathStyle = values["force-path-style"] === true || io.env.R2_FORCE_PATH_STYLE === "true";
    const location = {
      ...(endpointUrl ? { endpointUrl } : {}),
      region: io.env.R2_REGION ?? "us-east-1",
      forcePathStyle,
    };
    // The miner's settings: its cache root (datasets/ and, by default, the validator's checkpoints)
    // and GRAIL_PYTHON; a value they refuse stops the run with the variable named.
    const settings = loadConfig({
      env: io.env,
      argv: [],
      registerSecrets: false,
      ...(io.envFile !== undefined ? { envFile: io.envFile } : {}),
    });
    const minerCacheRoot = settings.paths.cacheDir;
    const cacheRoot = flags.cache ?? path.join(minerCacheRoot, "validator");

    let minerBucket = bucketFromFlags(flags, "miner");
    let trainerBucket = bucketFromFlags(flags, "trainer");
    const checkpointDir = flags["checkpoint-dir"];
    const checkpointWindow = integer("checkpoint-window", flags["checkpoint-window"]);
    if (checkpointDir && checkpointWindow === undefined) {
      throw new UsageError("--checkpoint-dir needs --checkpoint-window");
    }

    // The chain, unless everything it would give was given.
    const offline =
      flags["block-hash"] !== undefined &&
      flags["challenge-randomness"] !== undefined &&
      (flags.file !== undefined || minerBucket !== null) &&
      (checkpointDir !== undefined || trainerBucket !== null);
    let chain: ValidatorChain;
    if (offline) {
      chain = {
        blockHash: async (block) => {
          if (block === window) return flags["block-hash"]!;
          throw new ValidatorSetupError(`no chain: only block ${window}'s hash was given`, { block });
        },
        blockTimestampMs: async () => null,
        currentBlock: async () => window + WINDOW_LENGTH,
      };
    } else {
      const resolved = flags.network
        ? resolveEndpoint(
            /^wss?:\/\//.test(flags.network)
              ? { BT_CHAIN_ENDPOINT: flags.network }
              : { BT_NETWORK: flags.network },
          )
        : resolveEndpoint(io.env);
      if (resolved.warning) log(`warning: ${resolved.warning}`);
      log(`connecting to ${resolved.network} (${resolved.url})`);
      const client = await SubtensorClient.connect({ url: resolved.url, connectTimeoutMs: 60_000 });
      cleanups.push(() => client.close());
      const clock = new WindowClock(client);
      chain = {
        blockHash: async (block) =>
          block === window && flags["block-hash"] ? flags["block-hash"] : client.blockHash(block),
        blockTimestampMs: async (block) =>
          block > (await client.currentBlock())
            ? null
            : client.blockTimestampMs(await client.blockHash(block)),
        currentBlock: () => client.currentBlock(),
        waitForBlock: (target, signal) => clock.waitForBlock(target, signal),
      };
      if (!minerBucket || (!trainerBucket && !checkpointDir)) {
        const buckets = await readSubnetBuckets(client, netuid);
        if (!minerBucket && flags.file === undefined) {
          const entry = [...buckets.byUid.values()].find((b) => b.hotkey === hotkey);
          if (!entry) {
            throw new ValidatorSetupError(
              `${hotkey} has no readable bucket commitment on subnet ${netuid}; pass --miner-account/--miner-key-id/--miner-secret or --file`,
              { hotkey, netuid },
            );
          }
          minerBucket = entry.bucket;
        }
        if (!trainerBucket && !checkpointDir) {
          trainerBucket = buckets.byUid.get(TRAINER_UID)?.bucket ?? null;
          if (!trainerBucket) {
            throw new ValidatorSetupError(
              `the trainer (UID ${TRAINER_UID}) has no readable bucket commitment on subnet ${netuid}; pass --trainer-* or --checkpoint-dir`,
              { netuid },
            );
          }
        }
      }
    }

    const reader = (bucket: BucketCredentials) =>
      new ObjectStoreClient({
        accountId: bucket.accountId,
        bucket: bucket.name,
        ...location,
        role: "read",
        credentials: { accessKeyId: bucket.accessKeyId, secretAccessKey: bucket.secretAccessKey },
      });
    const checkpoints: ValidatorCheckpoints = checkpointDir
      ? await localCheckpoint(path.resolve(checkpointDir), checkpointWindow!)
      : new CheckpointStore({ reader: reader(trainerBucket!), cacheRoot });

    const datasets = await chooseDatasets(
      oneOf("datasets", flags.datasets, ["cache", "bundled"] as const),
      minerCacheRoot,
      log,
    );
    const environments = new MiningEnvironments(datasets, { python: settings.pipeline.python });
    cleanups.push(() => environments.close());
    const validator = new LocalValidator({
      chain,
      // Without a miner bucket only --file is read; the store client is then never asked.
      minerStore: reader(
        minerBucket ?? { name: "unused", accountId: "unused", accessKeyId: "-", secretAccessKey: "-" },
      ),
      checkpoints,
      environments: environments.factory,
      engine: { ...(backend ? { backend } : {}), ...(threads ? { threads } : {}) },
      selection,
      ...(distribution ? { distribution } : {}),
      ...(flags.drand ? { drandRandomness: flags.drand } : {}),
      progress: (m) => log(m),
    });
    cleanups.push(() => validator.close());

    let file: WindowFileInput | undefined;
    if (flags.file) {
      const bytes = await readFile(flags.file).catch((err: Error) => {
        throw new ValidatorSetupError(`cannot read --file ${flags.file}: ${err.message}`, {
          file: flags.file,
        });
      });
      // A local file has no S3 LastModified: the deadline is not checked.
      file = { bytes, lastModified: null, source: path.resolve(flags.file) };
    }
    const report = await validator.validate(hotkey, window, {
      ...(flags["challenge-randomness"] ? { challengeRandomness: flags["challenge-randomness"] } : {}),
      ...(file ? { file } : {}),
    });
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return report.verdict === "pass" ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${err.message}\n\n${VALIDATE_USAGE}`);
      return 2;
    }
    io.stderr.write(`validate: ${(err as Error).message}\n`);
    return 2;
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  }
}
