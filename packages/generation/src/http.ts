/** Minimal JSON-over-HTTP helpers on Node's fetch, with per-call timeouts. */
import { GenerationError } from "./errors.js";

export class HttpStatusError extends GenerationError {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status} from ${url}: ${body.slice(0, 500)}`, { url, status });
  }
  /** 5xx and 429 are worth another attempt; other 4xx mean the request itself is wrong. */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429;
  }
}

/** The body was not JSON although the endpoint documents a JSON answer. */
export class HttpBodyError extends GenerationError {
  constructor(
    readonly url: string,
    readonly body: string,
  ) {
    super(`non-JSON body from ${url}: ${body.slice(0, 200)}`, { url });
  }
}

export interface RequestOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

function signalFor(options: RequestOptions): AbortSignal {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  return options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
}

/** Sends a request; resolves with the raw text of a 2xx answer, rejects with HttpStatusError otherwise. */
export async function httpText(
  method: "GET" | "POST",
  url: string,
  body: unknown,
  options: RequestOptions,
): Promise<string> {
  const init: RequestInit = { method, signal: signalFor(options) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) throw new HttpStatusError(url, response.status, text);
  return text;
}

export async function httpJson(
  method: "GET" | "POST",
  url: string,
  body: unknown,
  options: RequestOptions,
): Promise<unknown> {
  const text = await httpText(method, url, body, options);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpBodyError(url, text);
  }
}

/** Status of a GET without throwing on non-2xx (health probes); null when the connection failed. */
export async function httpProbe(url: string, timeoutMs: number): Promise<number | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return null;
  }
}
