// Preloaded into the conformance CLI (NODE_OPTIONS=--import) by `run.sh --trial-token` only.
//
// The CLI has no option to send a header (its transports are built from the URL alone), so until Gatehouse can
// serve a virtual server to anonymous callers this adds `Authorization: Bearer <token>` to every fetch the CLI
// makes to the gateway's origin. The token is read from a 0600 file, never from the command line.
import { readFileSync } from "node:fs";

const tokenFile = process.env.GATEHOUSE_CONFORMANCE_TOKEN_FILE;
const origin = process.env.GATEHOUSE_CONFORMANCE_ORIGIN;

if (tokenFile && origin) {
  const token = readFileSync(tokenFile, "utf8").trim();
  const target = new URL(origin).origin;
  const originalFetch = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const request = input instanceof Request ? input : null;
    const url = new URL(request ? request.url : String(input));
    if (url.origin !== target) return originalFetch(input, init);
    const headers = new Headers(init.headers ?? request?.headers);
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    return originalFetch(input, { ...init, headers });
  };
}
