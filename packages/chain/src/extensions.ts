import type { ApiOptions } from "@polkadot/api/types";

type ExtDef = NonNullable<ApiOptions["signedExtensions"]>;

/**
 * Transaction extensions subtensor runtimes declare that polkadot-js does not know.
 * All of them carry no explicit and no implicit data (checked in the spec 218, 343 and
 * 381 metadata), so declaring them empty is exact and silences the registry warning.
 */
export const SUBTENSOR_SIGNED_EXTENSIONS: ExtDef = {
  SubtensorSignedExtension: { extrinsic: {}, payload: {} },
  CommitmentsSignedExtension: { extrinsic: {}, payload: {} },
  SubtensorTransactionExtension: { extrinsic: {}, payload: {} },
  DrandPriority: { extrinsic: {}, payload: {} },
  SudoTransactionExtension: { extrinsic: {}, payload: {} },
};
