// A loopback stand-in for the dataset hub: the revision, tree and resolve endpoints the fetcher uses,
// with LFS-style redirects, Range support and switches for the failures a real hub or network shows.

import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DATASETS, type DatasetId } from "../datasets/catalog.js";
import { syntheticHubFiles } from "./synthetic.js";

export interface HubRequest {
  readonly path: string;
  readonly range: string | null;
  readonly authorization: string | null;
}

interface Repo {
  readonly commit: string;
  readonly files: Map<string, Uint8Array>;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export class FakeHub {
  /** Every request, in arrival order. */
  readonly requests: HubRequest[] = [];
  /** `<repo>/<path>` of files served with bytes 100..109 zeroed (the listing keeps the true sha256). */
  readonly corrupt = new Set<string>();
  /** `<repo>/<path>` → bytes after which the next download of that file drops the connection (once). */
  readonly cutOnce = new Map<string, number>();
  /** Answer Range requests with 200 and the whole file, as a server without range support does. */
  ignoreRange = false;
  /** When set, requests without `Authorization: Bearer <token>` get 401. */
  token: string | null = null;
  url = "";
  private readonly repos = new Map<string, Repo>();
  private readonly blobs = new Map<string, { key: string; bytes: Uint8Array }>();
  private server: Server | null = null;

  addRepo(repo: string, commit: string, files: Map<string, Uint8Array>): this {
    this.repos.set(repo, { commit, files });
    for (const [path, bytes] of files) this.blobs.set(sha256(bytes), { key: `${repo}/${path}`, bytes });
    return this;
  }

  /** The pinned repositories of the given datasets (default all four) with generated rows. */
  addPinnedDatasets(datasets: readonly DatasetId[] = Object.keys(DATASETS) as DatasetId[]): this {
    for (const id of datasets) this.addRepo(DATASETS[id].repo, DATASETS[id].revision, syntheticHubFiles(id));
    return this;
  }

  /** Resolve requests seen for one file of a repo (the downloads, not the listings). */
  downloads(repo: string, path: string): HubRequest[] {
    const url = `/datasets/${repo}/resolve/${this.repos.get(repo)?.commit}/${path}`;
    return this.requests.filter((r) => r.path === url);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent((req.url ?? "").split("?")[0] ?? "");
    this.requests.push({
      path,
      range: req.headers.range ?? null,
      authorization: req.headers.authorization ?? null,
    });
    if (this.token !== null && req.headers.authorization !== `Bearer ${this.token}`) {
      res.statusCode = 401;
      res.end("Invalid credentials");
      return;
    }
    const json = (body: unknown) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(body));
    };
    for (const [name, repo] of this.repos) {
      const revision = `/api/datasets/${name}/revision/`;
      const tree = `/api/datasets/${name}/tree/${repo.commit}/`;
      const resolve = `/datasets/${name}/resolve/${repo.commit}/`;
      if (path.startsWith(revision)) {
        json({ id: name, sha: repo.commit });
        return;
      }
      if (path.startsWith(tree)) {
        const dir = path.slice(tree.length);
        const entries = [...repo.files]
          .filter(([p]) => p.startsWith(`${dir}/`))
          .map(([p, bytes]) => ({
            type: "file",
            path: p,
            size: bytes.byteLength,
            oid: sha256(new TextEncoder().encode(p)).slice(0, 40),
            lfs: { oid: sha256(bytes), size: bytes.byteLength, pointerSize: 135 },
          }));
        json([{ type: "file", path: `${dir}/README.md`, size: 3, oid: "0".repeat(40) }, ...entries]);
        return;
      }
      if (path.startsWith(resolve) && repo.files.has(path.slice(resolve.length))) {
        // LFS files answer with a redirect to the storage that holds them, as the hub does.
        res.statusCode = 302;
        res.setHeader("location", `/lfs/${sha256(repo.files.get(path.slice(resolve.length)) as Uint8Array)}`);
        res.end();
        return;
      }
    }
    const blob = path.startsWith("/lfs/") ? this.blobs.get(path.slice(5)) : undefined;
    if (blob) {
      this.serveBlob(req, res, blob.key, blob.bytes);
      return;
    }
    res.statusCode = 404;
    res.end("Entry not found");
  }

  private serveBlob(req: IncomingMessage, res: ServerResponse, key: string, original: Uint8Array): void {
    const bytes = this.corrupt.has(key) ? Buffer.from(original).fill(0, 100, 110) : Buffer.from(original);
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range && !this.ignoreRange) {
      start = Number(range[1]);
      if (start >= bytes.byteLength) {
        res.statusCode = 416;
        res.setHeader("content-range", `bytes */${bytes.byteLength}`);
        res.end();
        return;
      }
      res.statusCode = 206;
      res.setHeader("content-range", `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}`);
    }
    const body = bytes.subarray(start);
    res.setHeader("content-length", String(body.byteLength));
    const cut = this.cutOnce.get(key);
    if (cut !== undefined && cut > start && cut < bytes.byteLength) {
      this.cutOnce.delete(key);
      // Part of the body, then the connection closes (a dropped download); FIN, not RST, so the
      // bytes sent arrive first.
      res.write(body.subarray(0, cut - start), () => res.socket?.end());
      return;
    }
    res.end(body);
  }
}

/** A started hub serving the pinned repositories of all four datasets. */
export function startPinnedHub(): Promise<FakeHub> {
  return new FakeHub().addPinnedDatasets().start();
}
