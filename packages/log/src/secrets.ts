/**
 * Values that must never reach a log line, registered when they are loaded (R2 secret keys,
 * the W&B API key, wallet material). Redaction replaces every occurrence inside any string.
 */
export class SecretRegistry {
  /** Shorter values would match ordinary text everywhere; no real credential is this short. */
  static readonly MIN_LENGTH = 6;
  private readonly values = new Set<string>();
  private sorted: string[] = [];

  /** Returns false when the value was too short to register (and is therefore not redacted). */
  register(value: string | null | undefined): boolean {
    if (typeof value !== "string") return false;
    const trimmed = value.trim();
    if (trimmed.length < SecretRegistry.MIN_LENGTH) return false;
    if (!this.values.has(trimmed)) {
      this.values.add(trimmed);
      // Longest first, so a secret that contains another is replaced whole.
      this.sorted = [...this.values].sort((a, b) => b.length - a.length);
    }
    return true;
  }

  has(value: string): boolean {
    return this.values.has(value.trim());
  }

  get size(): number {
    return this.values.size;
  }

  /** Replaces every registered secret inside `text` with `mask`. */
  scrub(text: string, mask: string): string {
    let out = text;
    for (const secret of this.sorted) {
      if (out.includes(secret)) out = out.split(secret).join(mask);
    }
    return out;
  }
}

/** The process-wide registry every logger consults unless given its own. */
export const globalSecrets = new SecretRegistry();

/** Registers a secret value with the process-wide registry (see SecretRegistry.register). */
export function registerSecret(value: string | null | undefined): boolean {
  return globalSecrets.register(value);
}
