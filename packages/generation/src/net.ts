import { createServer } from "node:net";

/**
 * Asks the OS for a free loopback port (bind to 0, read it, close). Another process may take the
 * port before the server binds it; the supervisor then sees a failed start and picks a new one.
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the assigned port"));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}
