/**
 * Local paths built from names that come from outside the process (manifest entries, object
 * keys, index shard names). Whoever can write the trainer's bucket chooses those names, so each
 * must stay inside the directory it is joined to, and nothing under that directory may be a
 * symbolic link that would carry a write somewhere else.
 */
import { lstat, readlink } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { UnsafePathError } from "./errors.js";

const ALLOWED =
  "a relative path of '/'-separated names, none of them empty, '.' or '..', without NUL or '\\'";

/** Why `name` could leave (or is unfit for) the directory it is joined to; null when it is fine. */
export function unsafeNameReason(name: unknown): string | null {
  if (typeof name !== "string") return `it is a ${typeof name}, not a string`;
  if (name.length === 0) return "it is empty";
  if (name.includes("\0")) return "it contains a NUL byte";
  if (name.includes("\\")) return "it contains a backslash";
  if (name.startsWith("/")) return "it is absolute";
  for (const part of name.split("/")) {
    if (part === "") return "it has an empty segment";
    if (part === "." || part === "..") return `it has a '${part}' segment`;
  }
  return null;
}

/**
 * `dir/name` after checking that `name` cannot leave `dir`; throws UnsafePathError naming
 * `what` (where the name came from) otherwise. Purely lexical: see containedPathNoLinks.
 */
export function containedPath(dir: string, name: string, what: string): string {
  const reason = unsafeNameReason(name);
  if (reason !== null) throw unsafe(dir, name, what, `${reason}; allowed: ${ALLOWED}`);
  const root = resolve(dir);
  const path = join(root, name);
  const rel = relative(root, path);
  // Belt and braces over the segment check above.
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`)) {
    throw unsafe(dir, name, what, "it resolves outside the directory");
  }
  return path;
}

/**
 * containedPath, and no existing component below `dir` (the final one included, and each of
 * `siblings` appended to it, e.g. ".part") is a symbolic link: writing there cannot land
 * outside `dir`. `dir` itself may be a link (an operator may put the cache on another disk).
 */
export async function containedPathNoLinks(
  dir: string,
  name: string,
  what: string,
  siblings: readonly string[] = [],
): Promise<string> {
  const path = containedPath(dir, name, what);
  const root = resolve(dir);
  const parts = relative(root, path).split(sep);
  const checks = parts.map((_, i) => join(root, ...parts.slice(0, i + 1)));
  for (const suffix of siblings) checks.push(`${path}${suffix}`);
  for (const p of checks) {
    let isLink: boolean;
    try {
      isLink = (await lstat(p)).isSymbolicLink();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw err;
    }
    if (isLink) {
      const target = await readlink(p).catch(() => "?");
      throw unsafe(
        dir,
        name,
        what,
        `${p} is a symbolic link (to ${target}); the directory holds only plain files and directories, so remove the link`,
      );
    }
  }
  return path;
}

function unsafe(dir: string, name: string, what: string, reason: string): UnsafePathError {
  return new UnsafePathError(`${what} ${JSON.stringify(name)} is refused under ${dir}: ${reason}`, {
    dir,
    name,
    what,
  });
}
