import type { WandbRow } from "./rows.js";

/** What the W&B thread starts its run with. */
export interface ThreadData {
  readonly apiKey: string;
  readonly baseUrl: string;
  readonly project: string;
  /** null: the entity the API key belongs to (the SDK asks the server). */
  readonly entity: string | null;
  /** Display name of the run. */
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
}

export type ThreadRequest = { readonly type: "log"; readonly row: WandbRow } | { readonly type: "finish" };

export type ThreadReply =
  | { readonly type: "started"; readonly id: string; readonly url: string }
  | { readonly type: "failed"; readonly error: string }
  | { readonly type: "finished" };
