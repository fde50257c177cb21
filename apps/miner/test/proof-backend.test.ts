import type { MinerConfig } from "@grail/config";
import type { BackendReport } from "@grail/engine-native";
import { describe, expect, it } from "vitest";
import { chooseProofBackend, ProofBackendError } from "../src/proof-backend.js";

type Cfg = Pick<MinerConfig, "chain" | "pipeline">;
const config = (o: { devnet?: boolean; allowCpu?: boolean; engine?: "native" | "torch" } = {}): Cfg =>
  ({
    chain: { embeddedDevnet: o.devnet ?? false, network: "finney" },
    pipeline: {
      proofAllowCpu: o.allowCpu ?? false,
      proofEngine: { default: o.engine ?? "native", perGpu: {} },
    },
  }) as unknown as Cfg;

const noCuda: BackendReport = {
  cpu: { available: true },
  cuda: {
    available: false,
    reason: "CUDA toolkit at /usr/local/cuda has nvcc but no cuBLASLt headers (cublasLt.h)",
  },
};
const cuda: BackendReport = {
  cpu: { available: true },
  cuda: { available: true, devices: [{ index: 0, name: "NVIDIA H100", totalMemoryBytes: 80e9 }] },
};

describe("the proof backend on a real network", () => {
  it("asks workers for CUDA when the build has it", () => {
    const choice = chooseProofBackend(config(), [4, 5], () => cuda);
    expect(choice).toMatchObject({ backend: "cuda", notice: null });
    expect(choice.summary).toBe("proof backend: CUDA (0:NVIDIA H100)");
  });

  it("refuses a CPU-only build with its recorded reason and the two ways out", () => {
    const err = (() => {
      try {
        chooseProofBackend(config(), [4, 5], () => noCuda);
      } catch (e) {
        return e;
      }
    })() as ProofBackendError;
    expect(err).toBeInstanceOf(ProofBackendError);
    expect(err.message).toContain("proof GPU(s) 4,5 need the native engine's CUDA backend on finney");
    expect(err.message).toContain("no cuBLASLt headers (cublasLt.h)");
    expect(err.message).toContain("GRAIL_PIPELINE_PROOF_ALLOW_CPU=true");
    expect(err.context).toEqual({ reason: noCuda.cuda.reason, gpus: [4, 5] });
  });

  it("allows the CPU only when asked, and then announces it", () => {
    const choice = chooseProofBackend(config({ allowCpu: true }), [1], () => noCuda);
    expect(choice.backend).toBeUndefined();
    expect(choice.notice).toMatch(
      /^proofs run on the CPU \(GRAIL_PIPELINE_PROOF_ALLOW_CPU=true\).*cublasLt\.h/,
    );
  });

  it("leaves the local network and torch-engine GPUs alone without probing", () => {
    const probe = () => {
      throw new Error("must not probe");
    };
    expect(chooseProofBackend(config({ devnet: true }), [1], probe).backend).toBeUndefined();
    expect(chooseProofBackend(config({ engine: "torch" }), [1], probe).backend).toBeUndefined();
  });
});
