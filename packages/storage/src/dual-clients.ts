import { ObjectStoreClient } from "./object-store.js";
import type {
  ObjectStoreClientOptions,
  ObjectStoreCredentials,
  ObjectStoreLocation,
} from "./object-store-types.js";

export interface DualCredentialsConfig extends ObjectStoreLocation {
  read: ObjectStoreCredentials;
  write: ObjectStoreCredentials;
}

/**
 * The miner's own bucket clients: writes with the private write keys, reads with the
 * read keys it commits on chain. The two never share a credential object.
 */
export function createDualClients(
  config: DualCredentialsConfig,
  shared: Omit<ObjectStoreClientOptions, keyof ObjectStoreLocation | "role" | "credentials"> = {},
): { reader: ObjectStoreClient; writer: ObjectStoreClient } {
  const { read, write, ...location } = config;
  return {
    reader: new ObjectStoreClient({ ...shared, ...location, role: "read", credentials: { ...read } }),
    writer: new ObjectStoreClient({ ...shared, ...location, role: "write", credentials: { ...write } }),
  };
}
