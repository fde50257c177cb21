import { describe, expect, it } from "vitest";
import { formatWsEndpoint, NETWORK_ENDPOINTS, resolveEndpoint } from "../src/index.js";

describe("endpoint resolution", () => {
  it("defaults to finney", () => {
    expect(resolveEndpoint({})).toEqual({ url: NETWORK_ENDPOINTS.finney, network: "finney" });
  });

  it("maps the network names", () => {
    expect(resolveEndpoint({ BT_NETWORK: "test" }).url).toBe("wss://test.finney.opentensor.ai:443");
    expect(resolveEndpoint({ BT_NETWORK: "local" }).url).toBe("ws://127.0.0.1:9944");
    expect(resolveEndpoint({ BT_NETWORK: "local", BT_SUBTENSOR_CHAIN_ENDPOINT: "10.0.0.2:9944" }).url).toBe(
      "ws://10.0.0.2:9944",
    );
  });

  it("prefers BT_CHAIN_ENDPOINT and prefixes ws:// when no scheme is given", () => {
    expect(resolveEndpoint({ BT_CHAIN_ENDPOINT: "1.2.3.4:9944", BT_NETWORK: "test" })).toEqual({
      url: "ws://1.2.3.4:9944",
      network: "custom",
    });
    expect(resolveEndpoint({ BT_CHAIN_ENDPOINT: "wss://node.example:443" }).url).toBe(
      "wss://node.example:443",
    );
    expect(resolveEndpoint({ BT_CHAIN_ENDPOINT: "test" }).url).toBe(NETWORK_ENDPOINTS.test);
    expect(resolveEndpoint({ BT_CHAIN_ENDPOINT: "  ", BT_NETWORK: "local" }).network).toBe("local");
    expect(formatWsEndpoint("ws://x:1")).toBe("ws://x:1");
  });

  it("falls back to finney with a warning for an unknown network", () => {
    const resolved = resolveEndpoint({ BT_NETWORK: "archive" });
    expect(resolved.url).toBe(NETWORK_ENDPOINTS.finney);
    expect(resolved.warning).toMatch(/archive/);
  });
});
