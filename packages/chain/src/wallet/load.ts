import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { WalletError } from "../errors.js";
import {
  btwalletPasswordEnvName,
  decodeBtwalletPassword,
  deriveNaclKeyfileKey,
  detectKeyfileEncryption,
  openNaclKeyfile,
  parseKeyfileJson,
} from "./keyfile.js";
import { checkKeyfileAddress, type KeySource, keypairFromKeyfile } from "./keypair.js";
import { type HotkeySigner, KeyringHotkeySigner, verifySignature } from "./signer.js";

export const DEFAULT_WALLET_ROOT = "~/.bittensor/wallets";

export interface HotkeyLocation {
  /** Wallets directory; `~` is expanded. Default ~/.bittensor/wallets. */
  readonly walletRoot?: string;
  /** BT_WALLET_COLD: the wallet (directory) name. */
  readonly walletName: string;
  /** BT_WALLET_HOT: the hotkey file name. */
  readonly hotkeyName: string;
}

export interface LoadHotkeyOptions extends HotkeyLocation {
  /** Password of an encrypted ($NACL) hotkey; without it btwallet's BT_PW_<path> variable is tried. */
  readonly password?: string;
  /** Where BT_PW_<path> is looked up: the miner's process environment (btwallet's convention). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface LoadedHotkey {
  readonly signer: HotkeySigner;
  readonly path: string;
  readonly source: KeySource;
  readonly encrypted: boolean;
}

export function expandHome(p: string): string {
  if (p === "~") return homedir();
  if (p.startsWith("~/")) return path.join(homedir(), p.slice(2));
  return p;
}

export function hotkeyPath(location: HotkeyLocation): string {
  const root = expandHome(location.walletRoot ?? DEFAULT_WALLET_ROOT);
  return path.resolve(root, location.walletName, "hotkeys", location.hotkeyName);
}

/** Signs a random message and verifies it against the address: catches a wrongly converted secret. */
export function selfTestSigner(signer: HotkeySigner): void {
  const probe = new Uint8Array(randomBytes(32));
  const signature = signer.sign(probe);
  if (signature.length !== 64 || !verifySignature(probe, signature, signer.ss58)) {
    throw new WalletError(
      `the hotkey ${signer.ss58} produced a signature that does not verify; the keyfile's secret does not belong to its address`,
      { ss58: signer.ss58 },
    );
  }
}

async function decryptIfNeeded(
  raw: Uint8Array,
  file: string,
  options: LoadHotkeyOptions,
): Promise<{ plain: Uint8Array; encrypted: boolean }> {
  const encryption = detectKeyfileEncryption(raw);
  if (encryption === "none") return { plain: raw, encrypted: false };
  if (encryption !== "nacl") {
    throw new WalletError(
      `hotkey ${file} is encrypted in the legacy ${encryption} format, which this miner does not read. ` +
        "Regenerate it unencrypted: btcli wallet regen_hotkey (hotkeys are unencrypted by default).",
      { path: file, encryption },
    );
  }
  const envName = btwalletPasswordEnvName(file);
  const fromEnv = options.env[envName];
  const password = options.password ?? (fromEnv ? decodeBtwalletPassword(envName, fromEnv) : undefined);
  if (password === undefined || password === "") {
    throw new WalletError(
      `hotkey ${file} is encrypted and no password was given: set ${envName} in the process environment ` +
        "to the password in btwallet's encoding (base64 of the password XOR-ed with the variable's name), " +
        "or regenerate the hotkey unencrypted (btcli wallet regen_hotkey).",
      { path: file, envName },
    );
  }
  const key = await deriveNaclKeyfileKey(password);
  return { plain: await openNaclKeyfile(raw, key, file), encrypted: true };
}

/**
 * Loads the hotkey with btwallet's precedence, checks the derived address against the
 * file, and signs-then-verifies once. The returned signer is the only holder of the secret.
 */
export async function loadHotkey(options: LoadHotkeyOptions): Promise<LoadedHotkey> {
  const file = hotkeyPath(options);
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(await readFile(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new WalletError(
      code === "ENOENT"
        ? `hotkey file ${file} does not exist. Check BT_WALLET_COLD / BT_WALLET_HOT (and the wallet path), or create it: btcli wallet new_hotkey --wallet.name ${options.walletName} --wallet.hotkey ${options.hotkeyName}`
        : `cannot read hotkey file ${file}: ${(error as Error).message}`,
      { path: file, code },
      { cause: error },
    );
  }
  const { plain, encrypted } = await decryptIfNeeded(raw, file, options);
  const data = parseKeyfileJson(plain, file);
  plain.fill(0);
  const { pair, source } = await keypairFromKeyfile(data, file);
  checkKeyfileAddress(pair, data, file);
  const signer = new KeyringHotkeySigner(pair);
  selfTestSigner(signer);
  return { signer, path: file, source, encrypted };
}
