import { PRIME_Q } from "@grail/protocol";
import { expect, test } from "vitest";
test("cross-package source", () => expect(PRIME_Q).toBe(2147483647));
