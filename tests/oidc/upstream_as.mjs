// A real OAuth 2.0 authorization server for Gatehouse's upstream OAuth tests: npm's oidc-provider on loopback,
// issuing JWT access tokens for an upstream MCP server's resource (RFC 8707).
//   node upstream_as.mjs <port>
// Environment: AS_CLIENTS    JSON list of client metadata ({client_id, client_secret, redirect_uris, grant_types})
//              AS_RESOURCES  JSON list of resource indicators (the upstream MCP servers' canonical URLs)
//              AS_TOKEN_TTL  access token lifetime in seconds (default 60; short to exercise refresh)
// PKCE (S256) is required on every authorization request; client credentials and open dynamic registration
// (RFC 7591) are on. Logins go through the development interaction pages: any password for any login, whose
// name becomes the token's `sub`.
import Provider, { errors } from "oidc-provider";

const port = Number(process.argv[2] || 0);
if (!port) {
  console.error("usage: node upstream_as.mjs <port>");
  process.exit(2);
}
const clients = JSON.parse(process.env.AS_CLIENTS || "[]");
const resources = JSON.parse(process.env.AS_RESOURCES || "[]");
const tokenTtl = Number(process.env.AS_TOKEN_TTL || 60);

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: clients.map((client) => ({
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_post",
    scope: "tools offline_access",
    ...client,
  })),
  scopes: ["openid", "offline_access", "tools"],
  cookies: { keys: ["gatehouse-test-upstream-as-cookie-key"] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      useGrantedResource: async () => true,
      async getResourceServerInfo(ctx, resourceIndicator) {
        if (!resources.includes(resourceIndicator)) throw new errors.InvalidTarget();
        return { scope: "tools", audience: resourceIndicator, accessTokenTTL: tokenTtl, accessTokenFormat: "jwt" };
      },
    },
  },
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed("refresh_token");
  },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id }; } };
  },
});
provider.proxy = false;
provider.on("server_error", (ctx, error) => console.error("server_error", error));

provider.listen(port, "127.0.0.1", () => {
  console.log(`upstream authorization server listening on http://127.0.0.1:${port}`);
});
