// Liveness by wall-clock time: a late (throttled) timer is not taken for a dead connection.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HubClient } from "../../src/earlgate/web/earlgate.js";

class Socket {
  static last = null;
  constructor() {
    this.sent = [];
    this.closedWith = null;
    Socket.last = this;
  }
  send(raw) {
    this.sent.push(JSON.parse(raw));
  }
  close(code) {
    this.closedWith = code ?? 1000;
  }
}

test("pings when idle, gives a late tick a fresh ping, drops a connection that stays silent", async () => {
  const realNow = Date.now;
  let clock = realNow();
  Date.now = () => clock;
  let client = null;
  try {
    client = new HubClient("ws://hub/ws", {
      WebSocket: Socket,
      pingInterval: 1000,
      pongTimeout: 2000,
      backoff: { initial: 10000, max: 10000 },
    });
    await new Promise((resolve) => setTimeout(resolve, 0));
    const ws = Socket.last;
    ws.onopen({});
    const pings = () => ws.sent.filter((f) => f.type === "ping");
    client.lastTick = clock;
    clock += 1000;
    client.tick();
    assert.equal(pings().length, 1, "idle for pingInterval: ping");
    // The page slept (a throttled timer 60 s late): not dead, ping again.
    clock += 60000;
    client.tick();
    assert.equal(client.state, "connected");
    assert.equal(pings().length, 2);
    // The pong arrives: the outstanding ping is settled.
    ws.onmessage({ data: JSON.stringify({ type: "pong", id: pings()[1].id }) });
    clock += 500;
    client.tick();
    assert.equal(client.pingAt, 0);
    // Awake and silent past pongTimeout after a ping: dead, reconnect scheduled.
    clock += 1000;
    client.tick();
    assert.equal(pings().length, 3);
    for (let i = 0; i < 3; i++) {
      clock += 1000;
      client.tick();
    }
    assert.equal(ws.closedWith, 4000);
    assert.equal(client.state, "connecting");
  } finally {
    client?.close();
    Date.now = realNow;
  }
});
