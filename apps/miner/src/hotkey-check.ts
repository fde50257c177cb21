import { existsSync } from "node:fs";
import { loadHotkey, WalletError } from "@grail/chain";
import { hotkeyFile, type MainnetGap, type MinerConfig } from "@grail/config";

export type HotkeyCheck =
  | { readonly status: "absent" }
  | { readonly status: "loaded"; readonly line: string }
  | { readonly status: "broken"; readonly gap: MainnetGap };

/**
 * Loads the configured hotkey with the loader a start uses (decryption, address check, signing
 * self-test), so `--check` finds a garbage or locked hotkey before a start does. A missing file is
 * left to missingForMainnet.
 */
export async function checkHotkey(cfg: MinerConfig, env: NodeJS.ProcessEnv): Promise<HotkeyCheck> {
  const file = hotkeyFile(cfg.wallet);
  if (!existsSync(file)) return { status: "absent" };
  try {
    const hotkey = await loadHotkey({
      walletRoot: cfg.wallet.path,
      walletName: cfg.wallet.coldkey,
      hotkeyName: cfg.wallet.hotkey,
      env,
    });
    const how = `${hotkey.encrypted ? "decrypted, " : ""}from its ${hotkey.source}`;
    return { status: "loaded", line: `hotkey ${hotkey.signer.ss58} loads from ${hotkey.path} (${how})` };
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    const envName = err instanceof WalletError ? err.context.envName : undefined;
    return {
      status: "broken",
      gap: {
        variables:
          typeof envName === "string" ? [envName] : ["BT_WALLET_COLD", "BT_WALLET_HOT", "BT_WALLET_PATH"],
        reason: err.message,
      },
    };
  }
}
