// HubClient driven under Node with an injected fake WebSocket: no hub, no browser.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HubClient, HubError } from "../../src/earlgate/web/earlgate.js";

class FakeSocket {
  static made = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closedWith = null;
    FakeSocket.made.push(this);
  }
  send(raw) {
    this.sent.push(JSON.parse(raw));
  }
  close(code) {
    this.closedWith = code ?? 1000;
  }
  open() {
    this.onopen?.({});
  }
  hub(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.onclose?.({ code, reason: "" });
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const fresh = () => (FakeSocket.made = []);

test("queues while offline, refuses past queueSize, flushes after resubscribing", async () => {
  fresh();
  const client = new HubClient("ws://hub/ws", { WebSocket: FakeSocket, queueSize: 2 });
  await tick();
  const sub = client.subscribe("a/+");
  await client.publish("a/b", 1);
  await client.publish("a/b", 2);
  await assert.rejects(client.publish("a/b", 3), (e) => e.code === "queue_full" && /queue full \(2 frames\)/.test(e.message));
  assert.equal(client.queued, 2);
  const ws = FakeSocket.made[0];
  ws.open();
  assert.deepEqual(ws.sent.map((f) => f.type), ["subscribe", "publish", "publish"]);
  ws.hub({ type: "ack", id: ws.sent[0].id });
  const subscription = await sub;
  const got = [];
  subscription.on("message", (m) => got.push(m.data));
  ws.hub({ type: "publish", subject: "a/b", data: 7 });
  ws.hub({ type: "publish", subject: "x/y", data: 8 });
  assert.deepEqual(got, [7]);
  await client.connected;
  client.close();
  await assert.rejects(client.publish("a/b", 1), (e) => e.code === "closed");
});

test("ack publishes resolve on the ack and reject with the hub's code", async () => {
  fresh();
  const client = new HubClient("ws://hub/ws", { WebSocket: FakeSocket });
  await tick();
  const ws = FakeSocket.made[0];
  ws.open();
  const ok = client.publish("a", { x: 1 }, { ack: true, retain: true });
  const refused = client.publish("b", null, { ack: true });
  const [first, second] = ws.sent;
  assert.equal(first.retain, true);
  assert.deepEqual(first.data, { x: 1 });
  assert.equal(typeof first.published, "number");
  ws.hub({ type: "ack", id: first.id });
  ws.hub({ type: "error", id: second.id, code: "forbidden", reason: "not allowed" });
  await ok;
  await assert.rejects(refused, (e) => e instanceof HubError && e.code === "forbidden");
  await assert.rejects(client.publish("a/+", 1), (e) => e.code === "bad_subject");
  const lost = client.publish("a", 1, { ack: true });
  ws.drop();
  await assert.rejects(lost, (e) => e.code === "disconnected");
  const dropped = [];
  client.close();
  assert.deepEqual(dropped, []);
});

test("reconnects with backoff, resubscribes with since, surfaces $hub/dropped", async () => {
  fresh();
  const client = new HubClient("ws://hub/ws", { WebSocket: FakeSocket, backoff: { initial: 10, max: 20 } });
  await tick();
  let ws = FakeSocket.made[0];
  ws.open();
  const pending = client.subscribe("durable/a");
  ws.hub({ type: "ack", id: ws.sent[0].id });
  const sub = await pending;
  ws.hub({ type: "publish", subject: "durable/a", _offset: 3, _epoch: "e" });
  const dropped = [];
  client.on("dropped", (d) => dropped.push(d));
  ws.hub({ type: "publish", subject: "$hub/dropped", data: { dropped: 5, total: 9 } });
  assert.deepEqual(dropped, [{ dropped: 5, total: 9 }]);
  const states = [];
  client.on("disconnected", (d) => states.push(["disconnected", d.code]));
  client.on("connecting", (d) => states.push(["connecting", d.delay < 20]));
  ws.drop(1001);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(FakeSocket.made.length, 2);
  ws = FakeSocket.made[1];
  ws.open();
  assert.deepEqual(ws.sent[0], { type: "subscribe", subject: "durable/a", id: ws.sent[0].id, since: 3, epoch: "e" });
  assert.deepEqual(states, [["disconnected", 1001], ["connecting", true]]);
  const unrecovered = [];
  client.on("unrecovered", (d) => unrecovered.push(d.subscription));
  ws.hub({ type: "ack", id: ws.sent[0].id, recovered: false });
  assert.deepEqual(unrecovered, [sub]);
  client.close();
});

test("getToken: on connect and before exp, one fetch at a time, sent as an auth frame", async () => {
  fresh();
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  let calls = 0;
  const getToken = async () => {
    calls++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    return `${b64({ alg: "HS256" })}.${b64({ exp: Date.now() / 1000 + 1.2 })}.s`;
  };
  const client = new HubClient("ws://hub/ws", { WebSocket: FakeSocket, getToken });
  await Promise.all([client.fetchToken(), client.fetchToken()]);
  await tick();
  assert.equal(calls, 1);
  const ws = FakeSocket.made[0];
  assert.match(ws.url, /\?token=/);
  ws.open();
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const auth = ws.sent.find((f) => f.type === "auth");
  assert.ok(auth, "an auth frame was sent before exp");
  assert.ok(calls >= 2);
  ws.hub({ type: "ack", id: auth.id, revoked: [] });
  client.close();
});

test("offers batched delivery and reads several messages from one frame", async () => {
  fresh();
  const client = new HubClient("ws://hub/ws", { WebSocket: FakeSocket });
  await tick();
  const ws = FakeSocket.made[0];
  assert.equal(ws.url, "ws://hub/ws?batch=1");
  ws.open();
  const sub = client.subscribe("s/#");
  ws.hub({ type: "ack", id: ws.sent[0].id });
  const got = [];
  (await sub).on("message", (m) => got.push(m.data));
  const lines = [1, 2, 3].map((n) => JSON.stringify({ type: "publish", subject: "s/" + n, data: n }));
  ws.onmessage({ data: lines.join("\n") });
  ws.onmessage({ data: lines[0] + "\n\nnot json\n" + lines[2] });
  assert.deepEqual(got, [1, 2, 3, 1, 3]);
  client.close();
  fresh();
  const plain = new HubClient("ws://hub/ws", { WebSocket: FakeSocket, batch: false });
  await tick();
  assert.equal(FakeSocket.made[0].url, "ws://hub/ws");
  plain.close();
});

test("a message batched right after its subscription's ack reaches a listener added after the await", async () => {
  fresh();
  const client = new HubClient("ws://hub/ws", { WebSocket: FakeSocket });
  await tick();
  const ws = FakeSocket.made[0];
  ws.open();
  const pending = client.subscribe("r/#", { last: true });
  const ack = JSON.stringify({ type: "ack", id: ws.sent[0].id });
  const retained = JSON.stringify({ type: "publish", subject: "r/1", data: "kept", retained: true });
  const later = JSON.stringify({ type: "publish", subject: "r/2", data: "next" });
  ws.onmessage({ data: ack + "\n" + retained });
  ws.onmessage({ data: later }); // arrives while the batch waits: stays behind it
  const got = [];
  (await pending).on("message", (m) => got.push(m.data));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(got, ["kept", "next"]);
  client.close();
});
