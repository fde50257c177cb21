import { DatasetFetchError } from "../errors.js";
import type { DatasetId } from "./catalog.js";

export const DEFAULT_HUB_URL = "https://huggingface.co";

export interface HubOptions {
  /** Hub base URL (HF_ENDPOINT); default https://huggingface.co. */
  readonly hubUrl?: string;
  /** Sent as `Authorization: Bearer <token>` (HF_TOKEN) when set. */
  readonly token?: string | null;
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof globalThis.fetch;
  /** Per request, body included; default 120 s. */
  readonly timeoutMs?: number;
}

/** A file of a hub repository as its tree listing describes it. */
export interface HubFile {
  readonly path: string;
  readonly bytes: number;
  /** The LFS object id: the sha256 of the file's content. */
  readonly sha256: string;
}

const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** The three hub endpoints the fetcher uses: revision lookup, directory listing, file download. */
export class HubClient {
  readonly url: string;
  private readonly http: typeof globalThis.fetch;
  private readonly token: string | null;
  private readonly timeoutMs: number;

  constructor(
    opts: HubOptions,
    private readonly dataset: DatasetId,
  ) {
    this.url = (opts.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, "");
    this.http = opts.fetch ?? globalThis.fetch;
    this.token = opts.token ?? null;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /** GET with the token; throws DatasetFetchError for network failures and statuses other than `ok`. */
  async get(url: string, headers: Record<string, string> = {}, ok = [200]): Promise<Response> {
    let res: Response;
    try {
      res = await this.http(url, {
        headers: { ...headers, ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: "follow",
      });
    } catch (e) {
      throw new DatasetFetchError(url, describeNetworkError(e), this.dataset);
    }
    if (!ok.includes(res.status)) {
      await res.body?.cancel().catch(() => undefined);
      const hint = res.status === 401 || res.status === 403 ? " (check HF_TOKEN)" : "";
      throw new DatasetFetchError(url, `HTTP ${res.status} ${res.statusText}${hint}`, this.dataset);
    }
    return res;
  }

  private async json(url: string): Promise<unknown> {
    const res = await this.get(url);
    try {
      return await res.json();
    } catch (e) {
      throw new DatasetFetchError(url, `not JSON: ${(e as Error).message}`, this.dataset);
    }
  }

  /** The commit a branch or tag name points at; a commit id is returned as it is. */
  async resolveRevision(repo: string, revision: string): Promise<string> {
    if (COMMIT.test(revision)) return revision;
    const url = `${this.url}/api/datasets/${repo}/revision/${encodeURIComponent(revision)}`;
    const sha = ((await this.json(url)) as { sha?: unknown } | null)?.sha;
    if (typeof sha !== "string" || !COMMIT.test(sha)) {
      throw new DatasetFetchError(url, `revision "${revision}" did not resolve to a commit`, this.dataset);
    }
    return sha;
  }

  /**
   * The files directly in `dir` whose names `accept` takes. Each must carry an LFS sha256 and a size:
   * they are what every download is checked against.
   */
  async listFiles(repo: string, commit: string, dir: string, accept: RegExp): Promise<HubFile[]> {
    const url = `${this.url}/api/datasets/${repo}/tree/${commit}/${dir}`;
    const listing = await this.json(url);
    if (!Array.isArray(listing))
      throw new DatasetFetchError(url, "the listing is not an array", this.dataset);
    const files: HubFile[] = [];
    for (const entry of listing as Record<string, unknown>[]) {
      if (entry?.type !== "file" || typeof entry.path !== "string" || !accept.test(entry.path)) continue;
      const lfs = entry.lfs as { oid?: unknown; size?: unknown } | undefined;
      const size = lfs?.size ?? entry.size;
      if (
        typeof lfs?.oid !== "string" ||
        !SHA256.test(lfs.oid) ||
        !Number.isSafeInteger(size) ||
        (size as number) < 0
      ) {
        throw new DatasetFetchError(
          url,
          `${entry.path} is listed without an LFS sha256 and size, so its download cannot be verified`,
          this.dataset,
        );
      }
      files.push({ path: entry.path, bytes: size as number, sha256: lfs.oid });
    }
    return files.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  fileUrl(repo: string, commit: string, path: string): string {
    return `${this.url}/datasets/${repo}/resolve/${commit}/${path}`;
  }
}

/** fetch() reports "fetch failed" and keeps the reason (ECONNREFUSED, ENOTFOUND, …) in `cause`. */
export function describeNetworkError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === "TimeoutError") return "timed out";
  const cause = err?.cause?.code ?? err?.cause?.message;
  return cause ? `${err.message} (${cause})` : String(err?.message ?? e);
}
