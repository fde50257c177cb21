import { PRIME_Q } from "@grail/protocol";
import { expect, test } from "vitest";
test("resolves workspace source", () => expect(PRIME_Q).toBe(2 ** 31 - 1));
