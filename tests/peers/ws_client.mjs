// The TypeScript SDK v1 client over WebSocket, for tests/test_transports_e2e.py.
// Env: GATEHOUSE_WS_URL, GATEHOUSE_TOKEN (may be empty), GATEHOUSE_TOOL and GATEHOUSE_TOOL_ARGS (JSON, optional).
// Prints one JSON line: the subprotocol the server chose, the tool names, and the tool call's result.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";

const url = new URL(process.env.GATEHOUSE_WS_URL);
const token = process.env.GATEHOUSE_TOKEN ?? "";
const tool = process.env.GATEHOUSE_TOOL;
const toolArguments = JSON.parse(process.env.GATEHOUSE_TOOL_ARGS ?? "{}");

// WebSocketClientTransport takes only a URL and opens `new WebSocket(url, "mcp")` with the global WebSocket: it
// cannot set an Authorization header (nor can a browser). Like a browser client, offer the token as a second
// subprotocol entry, `bearer.<token>`; Gatehouse still selects `mcp`.
class BearerWebSocket extends WebSocket {
  constructor(address, protocols) {
    super(address, token ? [...[protocols ?? []].flat(), `bearer.${token}`] : protocols);
  }
}
globalThis.WebSocket = BearerWebSocket;

const transport = new WebSocketClientTransport(url);
const client = new Client({ name: "gatehouse-ws-e2e", version: "1.0.0" });
await client.connect(transport);
const listed = await client.listTools();
const called = tool ? await client.callTool({ name: tool, arguments: toolArguments }) : null;
console.log(JSON.stringify({
  subprotocol: transport._socket.protocol,
  server: client.getServerVersion(),
  tools: listed.tools.map((entry) => entry.name),
  called,
}));
await client.close();
