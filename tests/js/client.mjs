// MQTT.js from Node, for tests/server/mqtt/test_mqttjs.py: connect to URL,
// subscribe to TOPIC, publish MESSAGE on PUBTOPIC at QoS 1, print each
// message received as a JSON line, and exit after COUNT of them.
//   node client.mjs URL TOPIC PUBTOPIC MESSAGE COUNT   (env: KEY, CA_FILE, LEVEL)
import { readFileSync } from "node:fs";
import mqtt from "mqtt";

const [url, topic, pubTopic, message, count] = process.argv.slice(2);
const options = {
  username: "mqttjs",
  password: process.env.KEY,
  protocolVersion: Number(process.env.LEVEL || 4),
  reconnectPeriod: 0,
  connectTimeout: 10000,
};
if (options.protocolVersion === 3) options.protocolId = "MQIsdp"; // MQTT 3.1's name
if (process.env.CA_FILE) options.ca = readFileSync(process.env.CA_FILE);
const client = mqtt.connect(url, options);
let received = 0;
let ending = false;
client.on("error", (error) => {
  if (ending) process.exit(0); // the hub closing after our DISCONNECT (a reset, over TLS)
  console.error(`error: ${error.message}`);
  process.exit(2);
});
client.on("message", (name, payload, packet) => {
  console.log(JSON.stringify({ topic: name, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  if (++received >= Number(count)) {
    ending = true;
    client.end(false, () => process.exit(0));
  }
});
client.on("connect", async () => {
  await client.subscribeAsync(topic, { qos: 1 });
  await client.publishAsync(pubTopic, message, { qos: 1 });
});
setTimeout(() => {
  console.error("timed out");
  process.exit(3);
}, 20000);
