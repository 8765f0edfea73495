// Foxglove's own WebSocket client (@foxglove/ws-protocol) against teleop-server --foxglove.
//
//   node foxglove_client.mjs URL SECONDS [TOPIC JSON]...
//
// Subscribes to every channel the server advertises and listens for SECONDS; then publishes
// each JSON message on its TOPIC (a client channel advertised per topic, JSON encoding), one
// every 300 ms, and listens one more second. Prints one JSON object: the channels advertised
// (topic, encoding, schema name), the count and the last message per topic, and the status
// messages the server sent.
import wsProtocol from "@foxglove/ws-protocol";
import WebSocket from "ws";

const { FoxgloveClient } = wsProtocol;

const [url, seconds, ...pairs] = process.argv.slice(2);
const channels = [];
const counts = {};
const last = {};
const statuses = [];
const byId = new Map();
const decoder = new TextDecoder();

// foxglove-sdk speaks the ws-protocol spec under its own subprotocol name (the client takes any compatible one)
const ws = new WebSocket(url, ["foxglove.sdk.v1"]);
const client = new FoxgloveClient({ ws });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

client.on("error", (error) => {
  console.error(`client error: ${error}`);
  process.exit(2);
});
client.on("advertise", (advertised) => {
  for (const channel of advertised) {
    channels.push({ topic: channel.topic, encoding: channel.encoding, schemaName: channel.schemaName, schemaEncoding: channel.schemaEncoding });
    byId.set(client.subscribe(channel.id), channel.topic);
  }
});
client.on("message", ({ subscriptionId, data }) => {
  const topic = byId.get(subscriptionId);
  counts[topic] = (counts[topic] || 0) + 1;
  last[topic] = JSON.parse(decoder.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
});
client.on("status", (status) => statuses.push({ level: status.level, message: status.message }));

await new Promise((resolve) => client.on("open", resolve));
await sleep(Number(seconds) * 1000);
const advertised = new Map();
for (let i = 0; i < pairs.length; i += 2) {
  const topic = pairs[i];
  if (!advertised.has(topic)) {
    advertised.set(topic, client.advertise({ topic, encoding: "json", schemaName: topic === "/estop" ? "teleop.EmergencyStop" : "teleop.Control" }));
    await sleep(100);
  }
  client.sendMessage(advertised.get(topic), new TextEncoder().encode(pairs[i + 1]));
  await sleep(300);
}
await sleep(1000);
client.close();
console.log(JSON.stringify({ channels, counts, last, statuses }));
process.exit(0);
