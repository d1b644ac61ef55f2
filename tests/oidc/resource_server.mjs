// A real OAuth authorization server issuing JWT access tokens for resource servers (RFC 8707 resource indicators,
// RFC 9068 JWT access tokens), for the tests of Gatehouse as a resource server: npm's oidc-provider on loopback.
//   node resource_server.mjs <port>
// Environment: OAUTH_CLIENTS   JSON list of {client_id, client_secret, scope, email}: client-credentials clients;
//                              "email" becomes the token's email claim
//              OAUTH_RESOURCES JSON object {resource indicator: {scope, ttl, alg}}; ttl in seconds (default 600),
//                              alg RS256 (default) or ES256
//              OAUTH_KEY_ID    prefix of the signing keys' kid (fresh keys each start: restart with another prefix
//                              to rotate them)
import { generateKeyPairSync } from "node:crypto";
import Provider, { errors } from "oidc-provider";

const port = Number(process.argv[2] || 0);
if (!port) {
  console.error("usage: node resource_server.mjs <port>");
  process.exit(2);
}
const clients = JSON.parse(process.env.OAUTH_CLIENTS || "[]");
const resources = JSON.parse(process.env.OAUTH_RESOURCES || "{}");
const keyId = process.env.OAUTH_KEY_ID || "key";

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: "jwk" }), kid: `${keyId}-${alg}`, alg, use: "sig" };
}

const scopes = [...new Set(clients.flatMap((client) => (client.scope || "").split(" ").filter(Boolean)))];
const emails = Object.fromEntries(clients.map((client) => [client.client_id, client.email]));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: clients.map(({ client_id, client_secret, scope }) => ({
    client_id, client_secret, scope,
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: "client_secret_post",
  })),
  scopes,
  jwks: {
    keys: [
      signingKey("rsa", { modulusLength: 2048 }, "RS256"),
      signingKey("ec", { namedCurve: "P-256" }, "ES256"),
    ],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, indicator) {
        const server = resources[indicator];
        if (!server) throw new errors.InvalidTarget();
        return {
          scope: server.scope || "mcp",
          accessTokenTTL: server.ttl || 600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: server.alg || "RS256" } },
        };
      },
    },
  },
  async extraTokenClaims(ctx, token) {
    const email = emails[token.clientId];
    return email ? { email } : undefined;
  },
});
provider.proxy = false;

provider.listen(port, "127.0.0.1", () => {
  console.log(`oauth authorization server listening on http://127.0.0.1:${port}`);
});
