import { PROOF_COEFF_RANGE, PROOF_TOPK, RNG_LABEL } from "./constants.js";
import { normalizeHex } from "./hex.js";
import { prf } from "./prf.js";

const INT16_MIN = -32768;

/**
 * The 16 sketch coefficients in [−127, 127] derived from the beacon randomness (spec §2.4).
 * −32768 maps to 0 because the reference's numpy int16 `abs` wraps and its floor-modulo
 * then yields 127.
 */
export function generateRVec(randomnessHex: string): Int32Array {
  const raw = prf(RNG_LABEL.sketch, [normalizeHex(randomnessHex)], 2 * PROOF_TOPK);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Int32Array(PROOF_TOPK);
  for (let i = 0; i < PROOF_TOPK; i++) {
    const v = view.getInt16(2 * i);
    out[i] = v === INT16_MIN ? 0 : (Math.abs(v) % (2 * PROOF_COEFF_RANGE + 1)) - PROOF_COEFF_RANGE;
  }
  return out;
}
