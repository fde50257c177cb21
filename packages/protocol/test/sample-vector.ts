import { type CommitRecord, pythonCommitmentsJson, rolloutBeaconJson } from "@grail/protocol";

/**
 * A window file's rows and what the reference validator samples from them (spec §7.3), for the
 * protocol's sampler and the local validator's tests. The expected values were produced by
 * CPython 3.11 running the lines of the reference's
 * grail/validation/miner_validator.py::MinerValidator._determine_rollouts_to_check (count rule,
 * seed, `_group_digest`, sorted(...), rng.sample) on commits decoded as
 * grail/infrastructure/parquet_io.py::_convert_row_to_inference decodes them.
 */

export const HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
export const WINDOW_RAND = "66a83331e0505bcf7e36c6961c17a3e45fff39be51ba46d31d2b1dd987027d7a";

/** Row `m` of group `g`: every field a function of (g, m), mirrored in the generating script. */
export function rowCommit(g: number, m: number): CommitRecord {
  const P = 4;
  const C = 6;
  const positions = Array.from({ length: P + C }, (_, t) => t);
  return {
    tokens: positions.map((t) => (g * 131 + m * 17 + t * 7) % 151000),
    commitments: pythonCommitmentsJson(
      positions.map((t) => (g * 1000003 + m * 7919 + t * 104729) % 2147483647),
    ),
    proof_version: "v5",
    model: { name: "Qwen/Qwen3-4B", layer_index: -1 },
    signature: ((g * 16 + m) % 256).toString(16).padStart(2, "0").repeat(64),
    beacon: rolloutBeaconJson("cd".repeat(32)),
    rollout: {
      total_reward: (m % 3) / 2,
      advantage: (m - 7.5) / 4.6,
      success: m % 3 === 2,
      token_logprobs: [
        0,
        0,
        0,
        0,
        ...Array.from({ length: C }, (_, t) => Math.fround(-(((g + m + t) % 13) / 7.0) - 1e-3 * t)),
      ],
      prompt_length: P,
      completion_length: C,
    },
  };
}

/** 30 groups of 16 rows, groups in file order (i·11) mod 37. */
export const FILE_GROUPS = Array.from({ length: 30 }, (_, i) => (i * 11) % 37);
export const VECTOR_ROWS = FILE_GROUPS.flatMap((g) =>
  Array.from({ length: 16 }, (_, m) => ({ rollout_group: g, commit: rowCommit(g, m) })),
);

/** `_group_digest` of each group, in file order (CPython). */
export const GROUP_DIGESTS: [number, string][] = [
  [0, "fa9085e120dfd6f5514d97168969b3edd7334dced462963fee9dc8b0672fc725"],
  [11, "df7a3c308bf4295207ffb877e3a552dde39a3e6ce7d4d665f2a97a9e13ac58dd"],
  [22, "cf83f7461d685ca7834095030e90d6735cbfb62f1bcee315c216c11a3a249bad"],
  [33, "e05218a0aafef98ce478c4939738414ea8f742cbd69d7293ba2b2407a0521e31"],
  [7, "c3a04d2ad6de8560ee43f8ed005d0562ecd998ff8db2f6b4402078e0ec2de4c2"],
  [18, "8145546df6de6bcd710302199327f2683fb4f419ec1117105d387f9a25a80034"],
  [29, "c7226555cbe17ef7131e4e01ec1a58555373a932148215ba2880eec940001285"],
  [3, "f5d259f0b0fef2745c3b8ac88f246c966bd4a12ac7a403a4ab2ded6681ad0343"],
  [14, "151dc00e47c358a2fa979de849b66f8141e1dd6b74c0626e93225a5d506ac706"],
  [25, "1cb2b7c26c45f9db6e892f58647fccd269138d33c42e5437c8a8f851660154db"],
  [36, "1d195117844abb766a9bfe4c4e3c1a26961ddec36812ea086d032c559d13c5a2"],
  [10, "ab9e13db5b90f020b906f29db9d069eab80d1a9406f2d94634a6cc93c20a2bb4"],
  [21, "590b8661c0275955c02e150152d7ac9ab1539c323e2d5d75b708e09283bcd2a6"],
  [32, "8589211a9675b267354be9fef5b1e2264e99d687156b4d28cda87ca68b9ae2ee"],
  [6, "0f101c2906304ba77cb7158517f7ac8678e5a7bde13dfda9ae7a706b3019e395"],
  [17, "2803691fcf08b971989bb2de4604e606e43484838ec2169c445913fbdcc080dd"],
  [28, "a68d510be482689536293af85e923fa2f702415adfdd905e4414bc1c6e4ccafe"],
  [2, "bb6cd2e35020f076d3207fea186440b44c94dcd69de03b09bf92b8d6677052a8"],
  [13, "47cec601787375ee9f7c5f8ba13d91ad001966de58c166509629c21d27991a2d"],
  [24, "69aea07e2b9aeb68b934fd59ad817ddd9d6ff2a925e37e95821449d27a9d49fc"],
  [35, "fe989fa685c9b26436d0e3af047dbbaec33cc14f7b77fc3f6a2ecba020f52e2f"],
  [9, "03e2d258ec346d32e4cbcdf933b52506a84590508430b43a41c4be37eaf762d3"],
  [20, "503bd9da536bacd2828884b2caee31e35a8873d9f6d9ee02b11daa9f34d419ea"],
  [31, "d3d7edd8955c5e242084171d3bb33e0d185fd7bcb5efc01f18244d63c932d5a2"],
  [5, "baaccca19424adcde4d741aa9604e2c5345e228d6ee0176836bbd09f5109fc2b"],
  [16, "ee83bd89c668a80c084c94ef593a17f094c03dfcbb1f54a673d14340e98b1bf7"],
  [27, "6a0f36d6075caf2927884c7a7af7e62a43eafcc00d8800214fab1b57deff4408"],
  [1, "346f2e3fa8b47b31af0aa8b2d6c8f2f8ca412c6683564aeeef611ff2748a56ae"],
  [12, "b8ca3ec6e4f1e9a9315b1ebdf6ecd671bcca8252c160c3cb428050046de603fb"],
  [23, "50be64367be1dba85faded2ab3202ddb1d687bb70632959d10a3448541307c7a"],
];

/** The groups `rng.sample(group_keys, 3)` returns for VECTOR_ROWS, in draw order. */
export const SAMPLED_GROUPS = [32, 14, 20];
