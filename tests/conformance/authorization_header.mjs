// Preloaded into the conformance CLI (NODE_OPTIONS=--import) by `run.sh --trial-token` only.
//
// The CLI has no option to send a header: its SDK transports are built from the URL alone, and the raw probes of
// the header and DNS-rebinding scenarios call undici directly. Until Gatehouse can serve a virtual server to
// anonymous callers, this adds `Authorization: Bearer <token>` to every request the CLI makes to the gateway's
// origin, on each of the three paths the CLI uses: the global fetch (Node's own bundled undici), the npm undici's
// global dispatcher, and node:http.
// The token is read from a 0600 file, never from the command line.
import { readFileSync } from "node:fs";
import http from "node:http";
import { Agent, setGlobalDispatcher } from "undici";

const tokenFile = process.env.GATEHOUSE_CONFORMANCE_TOKEN_FILE;
const origin = process.env.GATEHOUSE_CONFORMANCE_ORIGIN;

function withAuthorization(headers, bearer) {
  if (headers == null) return { authorization: bearer };
  if (Array.isArray(headers)) {
    // Flat [name, value, name, value, …] form.
    const present = headers.some((item, index) => index % 2 === 0 && String(item).toLowerCase() === "authorization");
    return present ? headers : [...headers, "authorization", bearer];
  }
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
  if (entries.some(([name]) => name.toLowerCase() === "authorization")) return headers;
  return { ...Object.fromEntries(entries), authorization: bearer };
}

if (tokenFile && origin) {
  const bearer = `Bearer ${readFileSync(tokenFile, "utf8").trim()}`;
  const target = new URL(origin).origin;
  const addAuthorization = (dispatch) => (options, handler) => {
    if (new URL(String(options.origin)).origin === target) {
      options = { ...options, headers: withAuthorization(options.headers, bearer) };
    }
    return dispatch(options, handler);
  };
  setGlobalDispatcher(new Agent().compose(addAuthorization));

  const originalFetch = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const request = input instanceof Request ? input : null;
    if (new URL(request ? request.url : String(input)).origin !== target) return originalFetch(input, init);
    const headers = new Headers(init.headers ?? request?.headers);
    if (!headers.has("authorization")) headers.set("authorization", bearer);
    return originalFetch(input, { ...init, headers });
  };

  // The raw header probes call http.request({hostname, port, headers, …}, callback) on the default export.
  const gateway = new URL(target);
  const originalRequest = http.request;
  http.request = (options, ...rest) => {
    const aimed = options && typeof options === "object" && !(options instanceof URL)
      && String(options.port) === gateway.port && options.hostname === gateway.hostname;
    if (aimed) options = { ...options, headers: withAuthorization(options.headers, bearer) };
    return originalRequest(options, ...rest);
  };
}
