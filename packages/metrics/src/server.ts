import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { MetricsServerError } from "./errors.js";
import type { MinerMetrics } from "./metrics.js";

/** What /healthz reports: 200 when healthy, 503 otherwise, with `detail` as JSON. */
export interface HealthReport {
  readonly healthy: boolean;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface MetricsServerOptions {
  readonly metrics: MinerMetrics;
  /** Address to bind; loopback unless the scraper runs elsewhere (e.g. 0.0.0.0 inside a container). */
  readonly host?: string;
  /** 0 picks a free port (tests). Default 9464, GRAIL_PROMETHEUS_PORT's default. */
  readonly port?: number;
  /** Backs /healthz; without it /healthz answers 200 while the process serves. */
  readonly health?: () => HealthReport | Promise<HealthReport>;
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  /** e.g. http://127.0.0.1:9464/metrics */
  readonly url: string;
  close(): Promise<void>;
}

export const DEFAULT_METRICS_HOST = "127.0.0.1";
export const DEFAULT_METRICS_PORT = 9464;

/**
 * Serves GET /metrics (Prometheus text format) and GET /healthz. Resolves once listening; rejects
 * with MetricsServerError when the address cannot be bound.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? DEFAULT_METRICS_HOST;
  const port = options.port ?? DEFAULT_METRICS_PORT;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
    throw new MetricsServerError(`metrics port must be a whole number in 0..65535, got ${port}`, { port });
  }
  const server = createServer((req, res) => {
    handle(options, req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end(`metrics error: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  // A scraper that keeps connections open must not hold close() up.
  server.keepAliveTimeout = 5_000;
  await listen(server, host, port);
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    host,
    port: bound,
    url: `http://${urlHost}:${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === "EADDRINUSE"
          ? "another process holds the port; set GRAIL_PROMETHEUS_PORT to a free port"
          : err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND"
            ? "the address is not on this machine; set GRAIL_PROMETHEUS_HOST to one of its addresses"
            : "check GRAIL_PROMETHEUS_HOST and GRAIL_PROMETHEUS_PORT";
      reject(
        new MetricsServerError(
          `cannot serve metrics on ${host}:${port} (${err.code ?? err.message}): ${hint}`,
          {
            host,
            port,
            code: err.code,
          },
        ),
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

async function handle(options: MetricsServerOptions, req: IncomingMessage, res: ServerResponse) {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("only GET and HEAD\n");
    return;
  }
  if (path === "/metrics") {
    const body = await options.metrics.render();
    res.writeHead(200, { "content-type": options.metrics.contentType });
    res.end(req.method === "HEAD" ? undefined : body);
    return;
  }
  if (path === "/healthz") {
    let report: HealthReport;
    try {
      report = options.health ? await options.health() : { healthy: true };
    } catch (err) {
      // A health check that cannot decide is a failed one, answered in the same JSON shape.
      report = {
        healthy: false,
        detail: {
          problems: [`the health check failed: ${err instanceof Error ? err.message : String(err)}`],
        },
      };
    }
    res.writeHead(report.healthy ? 200 : 503, { "content-type": "application/json" });
    res.end(
      req.method === "HEAD"
        ? undefined
        : `${JSON.stringify({ ...(report.detail ?? {}), status: report.healthy ? "ok" : "unhealthy" })}\n`,
    );
    return;
  }
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
  res.end("not found: try /metrics or /healthz\n");
}
