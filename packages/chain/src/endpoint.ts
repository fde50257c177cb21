/**
 * Chain endpoint resolution, in the order the reference miner uses (spec/chain.md §1):
 * BT_CHAIN_ENDPOINT, else BT_NETWORK, else finney.
 */
export const NETWORK_ENDPOINTS = {
  finney: "wss://entrypoint-finney.opentensor.ai:443",
  test: "wss://test.finney.opentensor.ai:443",
  local: "ws://127.0.0.1:9944",
} as const;

export type NetworkName = keyof typeof NETWORK_ENDPOINTS;

export interface ResolvedEndpoint {
  /** The websocket URL; every reconnect goes back to exactly this URL. */
  readonly url: string;
  /** `finney`, `test`, `local` or `custom`: for logs only. */
  readonly network: NetworkName | "custom";
  /** Set when the configuration asked for something we replaced, so the caller can log it. */
  readonly warning?: string;
}

function isNetworkName(name: string): name is NetworkName {
  return Object.hasOwn(NETWORK_ENDPOINTS, name);
}

/** `1.2.3.4:9944` → `ws://1.2.3.4:9944`; URLs that already name ws:// or wss:// stay as they are. */
export function formatWsEndpoint(value: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith("ws://") || trimmed.startsWith("wss://")) return trimmed;
  return `ws://${trimmed}`;
}

export function resolveEndpoint(env: Readonly<Record<string, string | undefined>>): ResolvedEndpoint {
  const custom = env.BT_CHAIN_ENDPOINT?.trim();
  if (custom) {
    if (isNetworkName(custom)) return { url: NETWORK_ENDPOINTS[custom], network: custom };
    return { url: formatWsEndpoint(custom), network: "custom" };
  }
  const name = env.BT_NETWORK?.trim() || "finney";
  if (isNetworkName(name)) {
    if (name === "local" && env.BT_SUBTENSOR_CHAIN_ENDPOINT?.trim()) {
      return { url: formatWsEndpoint(env.BT_SUBTENSOR_CHAIN_ENDPOINT), network: "local" };
    }
    return { url: NETWORK_ENDPOINTS[name], network: name };
  }
  return {
    url: NETWORK_ENDPOINTS.finney,
    network: "finney",
    warning: `BT_NETWORK=${JSON.stringify(name)} is not one of finney, test, local; using finney. Set BT_CHAIN_ENDPOINT for a custom node.`,
  };
}
