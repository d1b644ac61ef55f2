// A real OpenID Connect provider for Gatehouse's SSO tests: npm's oidc-provider on loopback.
//   node server.mjs <port>
// Environment: OIDC_CLIENTS  JSON list of {client_id, client_secret, redirect_uris}
//              OIDC_ACCOUNTS JSON object {login: {email, name, groups}}
// Logins go through oidc-provider's development interaction pages: any password is accepted for a known login.
import Provider from "oidc-provider";

const port = Number(process.argv[2] || 0);
if (!port) {
  console.error("usage: node server.mjs <port>");
  process.exit(2);
}
const clients = JSON.parse(process.env.OIDC_CLIENTS || "[]");
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || "{}");

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: clients.map((client) => ({
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_post",
    ...client,
  })),
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "groups"],
  },
  cookies: { keys: ["gatehouse-test-oidc-cookie-key"] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: true, name: account.name || id,
                 groups: account.groups || [] };
      },
    };
  },
});
provider.proxy = false;

provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc-provider listening on http://127.0.0.1:${port}`);
});
