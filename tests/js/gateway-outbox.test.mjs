// The per-destination bounded queues of the gateway page (web/gateway/outbox.js)
// against a fake channel: high-water back-pressure, drop-oldest, drain on low.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BoundedQueue, Outbox } from "../../src/earlgate/web/gateway/outbox.js";
import { RouteStats } from "../../src/earlgate/web/gateway/stats.js";

class FakeChannel {
  constructor() {
    this.open = true;
    this.bufferedAmount = 0;
    this.sent = [];
  }

  send(value) {
    if (value === "poison") throw new TypeError("cannot serialize");
    this.sent.push(value);
    this.bufferedAmount += 100;
  }
}

function item(route, value, arrived = 0) {
  return { value, route, arrived, size: 10 };
}

test("messages go straight out while the channel is under the high-water mark", () => {
  let now = 5;
  const route = new RouteStats("forward#1");
  const box = new Outbox("b", { limit: 3, highWater: 250, now: () => now });
  const channel = new FakeChannel();
  box.put(item(route, 1)); // no connection yet: it waits
  assert.equal(box.queue.length, 1);
  box.attach(channel);
  assert.deepEqual(channel.sent, [1]);
  box.put(item(route, 2));
  box.put(item(route, 3)); // 300 buffered now: past high water
  assert.deepEqual(channel.sent, [1, 2, 3]);
  for (const v of [4, 5, 6, 7]) box.put(item(route, v));
  assert.deepEqual([...box.queue].map((i) => i.value), [5, 6, 7], "the oldest dropped first");
  assert.equal(box.dropped, 1);
  assert.equal(route.dropped.get("queue_full"), 1);
  channel.bufferedAmount = box.lowWater; // bufferedamountlow
  now = 9;
  assert.equal(box.drain(), 2);
  assert.deepEqual(channel.sent, [1, 2, 3, 5, 6]);
  assert.equal(route.messagesOut, 5);
  assert.equal(route.bytesOut, 50);
  assert.equal(route.latency.maxUs, 9000);
});

test("a refused send is counted, and the queue goes on", () => {
  const route = new RouteStats("demux#1");
  const box = new Outbox("b", { limit: 10, highWater: 10_000 });
  const channel = new FakeChannel();
  box.attach(channel);
  box.put(item(route, "poison"));
  box.put(item(route, "fine"));
  assert.equal(box.failed, 1);
  assert.equal(route.dropped.get("send_failed"), 1);
  assert.deepEqual(channel.sent, ["fine"]);
});

test("a closed or detached channel holds messages; forget counts them per route", () => {
  const route = new RouteStats("forward#2");
  const box = new Outbox("b", { limit: 10, highWater: 10_000 });
  const channel = new FakeChannel();
  box.attach(channel);
  channel.open = false;
  box.put(item(route, 1));
  box.detach(new FakeChannel()); // not the current one: nothing changes
  assert.equal(box.conn, channel);
  box.detach(channel);
  assert.equal(box.conn, null);
  box.put(item(route, 2));
  assert.equal(box.forget(), 2);
  assert.equal(route.dropped.get("peer_gone"), 2);
  assert.equal(box.queue.length, 0);
  assert.throws(() => new Outbox("x", { limit: 0 }), RangeError);
});

test("the bounded queue keeps order across its compaction", () => {
  const queue = new BoundedQueue();
  for (let i = 0; i < 5000; i++) queue.push(i);
  for (let i = 0; i < 3000; i++) assert.equal(queue.shift(), i);
  assert.equal(queue.length, 2000);
  assert.equal([...queue][0], 3000);
  queue.push(5000);
  assert.equal([...queue].at(-1), 5000);
  while (queue.length) queue.shift();
  assert.equal(queue.shift(), undefined);
});
