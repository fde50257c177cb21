import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export type Handler = (
  request: RecordedRequest,
  index: number,
) =>
  | Promise<{ status?: number; body?: unknown; raw?: string }>
  | { status?: number; body?: unknown; raw?: string };

/**
 * An in-process loopback HTTP server that records every request and answers through a handler, so
 * client tests can script well-formed, failing and malformed replies.
 */
export class ScriptedServer {
  readonly requests: RecordedRequest[] = [];
  private server: Server | null = null;
  inFlight = 0;
  maxInFlight = 0;

  constructor(private handler: Handler) {}

  setHandler(handler: Handler): void {
    this.handler = handler;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (!address || typeof address === "string") throw new Error("no address");
    return `http://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const recorded: RecordedRequest = {
      method: req.method ?? "",
      path: req.url ?? "",
      body: text ? (JSON.parse(text) as unknown) : undefined,
    };
    const index = this.requests.push(recorded) - 1;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const answer = await this.handler(recorded, index);
      const payload = answer.raw ?? (answer.body === undefined ? "" : JSON.stringify(answer.body));
      res.writeHead(answer.status ?? 200, { "content-type": "application/json" });
      res.end(payload);
    } finally {
      this.inFlight--;
    }
  }
}

/** SGLang-shaped output for a prompt: deterministic ids derived from the prompt. */
export function sglangOutputFor(prompt: readonly number[], eos = 9): Record<string, unknown> {
  return {
    text: "",
    output_ids: [prompt[0] ?? 0, prompt.length, eos],
    meta_info: {
      id: "x",
      finish_reason: { type: "stop", matched: eos },
      prompt_tokens: prompt.length,
      completion_tokens: 3,
    },
  };
}
