/**
 * Size-based transfer plans (spec/miner-pipeline.md §7.3). Kept pure so the thresholds
 * are testable and tests can shrink them to exercise multipart paths with small files.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export interface TransferTier {
  /** Applies to objects strictly smaller than this many bytes. */
  below: number;
  partSize: number;
  concurrency: number;
}

export interface TransferTuning {
  /** Objects smaller than this go in one request. */
  singleRequestBelow: number;
  /** Checked in order; the last tier should have `below: Infinity`. */
  tiers: TransferTier[];
}

/** Upload: < 50 MiB single PUT; < 500 MiB 50 MiB parts × 15; else 500 MiB parts × 3. */
export const DEFAULT_UPLOAD_TUNING: Readonly<TransferTuning> = Object.freeze({
  singleRequestBelow: 50 * MiB,
  tiers: [
    { below: 500 * MiB, partSize: 50 * MiB, concurrency: 15 },
    { below: Number.POSITIVE_INFINITY, partSize: 500 * MiB, concurrency: 3 },
  ],
});

/** Download: < 50 MiB single GET; < 500 MiB 50 MiB ranges × 30; < 5 GiB 200 MiB × 10; else 500 MiB × 10. */
export const DEFAULT_DOWNLOAD_TUNING: Readonly<TransferTuning> = Object.freeze({
  singleRequestBelow: 50 * MiB,
  tiers: [
    { below: 500 * MiB, partSize: 50 * MiB, concurrency: 30 },
    { below: 5 * GiB, partSize: 200 * MiB, concurrency: 10 },
    { below: Number.POSITIVE_INFINITY, partSize: 500 * MiB, concurrency: 10 },
  ],
});

export type TransferPlan =
  | { kind: "single"; size: number }
  | { kind: "parts"; size: number; partSize: number; concurrency: number; parts: ByteRange[] };

export interface ByteRange {
  /** 1-based part number (S3 multipart numbering). */
  partNumber: number;
  start: number;
  /** Inclusive end, as in an HTTP Range header. */
  end: number;
}

export function planTransfer(size: number, tuning: TransferTuning): TransferPlan {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid object size ${size}`);
  if (size < tuning.singleRequestBelow) return { kind: "single", size };
  const tier = tuning.tiers.find((t) => size < t.below) ?? tuning.tiers[tuning.tiers.length - 1];
  if (!tier) throw new RangeError("transfer tuning has no tiers");
  return {
    kind: "parts",
    size,
    partSize: tier.partSize,
    concurrency: tier.concurrency,
    parts: splitRanges(size, tier.partSize),
  };
}

export function splitRanges(size: number, partSize: number, from = 0): ByteRange[] {
  const parts: ByteRange[] = [];
  let partNumber = 1;
  for (let start = from; start < size; start += partSize) {
    parts.push({ partNumber: partNumber++, start, end: Math.min(size, start + partSize) - 1 });
  }
  return parts;
}
