import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A loopback W&B server for tests, speaking exactly the HTTP calls @wandb/sdk 0.5.1 makes: the
 * GraphQL `Viewer` query and `UpsertBucket` mutation on POST /graphql, then history and the final
 * exit record on POST /files/<entity>/<project>/<run id>/file_stream.
 */

export interface WandbCall {
  readonly path: string;
  /** The GraphQL operation (`Viewer`, `UpsertBucket`), or `file_stream`, or null for anything else. */
  readonly operation: string | null;
  /** GraphQL variables, or the file_stream body. */
  readonly body: Record<string, unknown>;
  readonly authorization: string | undefined;
}

export interface WandbServerOptions {
  /** The entity the Viewer query answers (the SDK asks for it at every start). Default "miner-team". */
  readonly viewerEntity?: string;
  /**
   * `viewer`: answer the Viewer query 401 (a wrong API key). `upsert`: answer UpsertBucket with a
   * GraphQL error and no data (a run the server refuses). `hang`: never answer the Viewer query.
   */
  readonly fault?: "viewer" | "upsert" | "hang";
}

export interface WandbServer {
  /** What WANDB_BASE_URL points at. */
  readonly url: string;
  readonly calls: readonly WandbCall[];
  /** The rows of wandb-history.jsonl, in the order they arrived. */
  history(): Record<string, unknown>[];
  /** The first call (already received or still to come) that `match` accepts. */
  waitFor(match: (call: WandbCall) => boolean): Promise<WandbCall>;
  close(): Promise<void>;
}

const FILE_STREAM = /^\/files\/([^/]+)\/([^/]+)\/([^/]+)\/file_stream$/;

export async function startWandbServer(options: WandbServerOptions = {}): Promise<WandbServer> {
  const calls: WandbCall[] = [];
  const waiters: { match: (c: WandbCall) => boolean; resolve: (c: WandbCall) => void }[] = [];
  const sockets = new Set<Socket>();
  const record = (call: WandbCall) => {
    calls.push(call);
    for (const w of [...waiters]) {
      if (w.match(call)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(call);
      }
    }
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  const answer = (req: IncomingMessage, res: ServerResponse, text: string) => {
    const path = req.url ?? "";
    const authorization = req.headers.authorization;
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // recorded with an empty body; the test sees the call anyway
    }
    if (req.method === "POST" && path === "/graphql") {
      const operation = typeof body.operationName === "string" ? body.operationName : null;
      const variables = (body.variables ?? {}) as Record<string, unknown>;
      record({ path, operation, body: variables, authorization });
      if (operation === "Viewer") {
        if (options.fault === "hang") return; // the socket stays open until close()
        if (options.fault === "viewer") return json(res, 401, { errors: [{ message: "invalid API key" }] });
        const entity = options.viewerEntity ?? "miner-team";
        return json(res, 200, {
          data: { viewer: { id: "viewer-1", entity, flags: null, teams: { edges: [] } } },
        });
      }
      if (operation === "UpsertBucket") {
        if (options.fault === "upsert")
          return json(res, 200, { data: null, errors: [{ message: "permission denied" }] });
        const project = {
          id: "project-1",
          name: variables.project,
          entity: { id: "entity-1", name: variables.entity },
        };
        const bucket = {
          id: "bucket-1",
          name: variables.name,
          displayName: variables.displayName ?? variables.name,
          description: null,
          config: variables.config ?? null,
          sweepName: null,
          project,
        };
        return json(res, 200, { data: { upsertBucket: { bucket, inserted: true } } });
      }
      return json(res, 400, { errors: [{ message: `unknown operation ${operation}` }] });
    }
    if (req.method === "POST" && FILE_STREAM.test(path)) {
      record({ path, operation: "file_stream", body, authorization });
      return json(res, 200, {});
    }
    record({ path, operation: null, body, authorization });
    json(res, 404, { error: `no ${req.method} ${path} here` });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => answer(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    history() {
      return calls
        .filter((c) => c.operation === "file_stream")
        .flatMap((c) => {
          const files = (c.body.files ?? {}) as Record<string, { content?: string[] }>;
          return (files["wandb-history.jsonl"]?.content ?? []).map(
            (line) => JSON.parse(line) as Record<string, unknown>,
          );
        });
    },
    waitFor(match) {
      const seen = calls.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
