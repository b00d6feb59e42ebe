// The gateway page's service layer (web/gateway/service.js) over fake links: a
// fake Peering hands it connections, a fake hub records frames, timers are
// stepped by hand. Forward 1:N, mux windows, demux, bridges, back-pressure,
// dialing and new routes, without a browser.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Gateway } from "../../src/earlgate/web/gateway/service.js";
import { RoutesError, loadsRoutes } from "../../src/earlgate/web/gateway/routes.js";

class FakeDataChannel {
  constructor() {
    this.bufferedAmount = 0;
    this.bufferedAmountLowThreshold = 0;
    this.listeners = [];
  }

  addEventListener(type, fn) {
    if (type === "bufferedamountlow") this.listeners.push(fn);
  }

  low(amount = 0) {
    this.bufferedAmount = amount;
    for (const fn of this.listeners) fn();
  }
}

class FakeConn {
  constructor(peer, serialization = "binary") {
    this.peer = peer;
    this.serialization = serialization;
    this.open = true;
    this.dataChannel = new FakeDataChannel();
    this.sent = [];
    this.perMessage = 0; // bytes each send adds to bufferedAmount
  }

  send(value) {
    this.sent.push(value);
    this.dataChannel.bufferedAmount += this.perMessage;
  }
}

class FakePeering {
  constructor(handlers) {
    this.handlers = handlers;
    this.registered = false;
    this.dialed = [];
    this.started = false;
    this.closed = false;
  }

  start() {
    this.started = true;
    this.registered = true;
    this.handlers.registered();
  }

  mayDial(peer) {
    return !this.dialed.includes(peer);
  }

  dial(peer) {
    this.dialed.push(peer);
  }

  forgetDial() {}

  close() {
    this.closed = true;
  }

  connect(peer, serialization) {
    const conn = new FakeConn(peer, serialization);
    this.handlers.opened(conn, false);
    return conn;
  }

  message(conn, value) {
    this.handlers.data(conn, value);
  }

  leave(conn) {
    conn.open = false;
    this.handlers.closed(conn);
  }
}

class FakeTimers {
  constructor(clock) {
    this.clock = clock;
    this.pending = [];
  }

  after(ms, fn) {
    const entry = { at: this.clock.t + ms, fn };
    this.pending.push(entry);
    return () => (this.pending = this.pending.filter((e) => e !== entry));
  }

  advance(ms) {
    this.clock.t += ms;
    for (const entry of this.pending.filter((e) => e.at <= this.clock.t)) {
      this.pending = this.pending.filter((e) => e !== entry);
      entry.fn();
    }
  }
}

class FakeSubscription {
  constructor(hub, pattern) {
    this.hub = hub;
    this.pattern = pattern;
    this.listeners = [];
  }

  on(type, fn) {
    if (type === "message") this.listeners.push(fn);
  }

  unsubscribe() {
    this.hub.unsubscribed.push(this.pattern);
    this.hub.subs = this.hub.subs.filter((s) => s !== this);
    return Promise.resolve();
  }
}

class FakeHub {
  constructor() {
    this.state = "connected";
    this.published = [];
    this.subs = [];
    this.unsubscribed = [];
    this.full = false;
  }

  on() {}

  publish(subject, data, { published } = {}) {
    if (this.full) return Promise.reject(new Error("offline queue full"));
    this.published.push({ subject, data, published });
    return Promise.resolve();
  }

  subscribe(pattern) {
    const sub = new FakeSubscription(this, pattern);
    this.subs.push(sub);
    return Promise.resolve(sub);
  }

  deliver(subject, data) {
    for (const sub of this.subs) if (sub.pattern === subject) for (const fn of sub.listeners) fn({ type: "publish", subject, data });
  }

  close() {}
}

const OPTIONS = { id: "gw", muxWindow: 0.25, muxMaxBytes: 15_000, muxMaxParts: 1000, queueLimit: 3, highWater: 250, dial: true };

function gateway(toml, options = {}) {
  const clock = { t: 1000 };
  const timers = new FakeTimers(clock);
  let peering;
  const hub = options.hub ? new FakeHub() : null;
  const gw = new Gateway(
    { ...OPTIONS, ...options },
    { makePeering: (handlers) => (peering = new FakePeering(handlers)), makeHub: () => hub, timers, now: () => clock.t },
  );
  gw.setRoutes(loadsRoutes(toml), toml);
  gw.start();
  return { gw, peering, timers, clock, hub };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test("forward 1:N: each destination gets the message as it was sent, never the source", async () => {
  const { gw, peering } = gateway('[[forward]]\nfrom = "arm-*"\nto = "arm-*"\n');
  await gw.registered;
  const [a, b, c] = ["arm-1", "arm-2", "arm-3"].map((id) => peering.connect(id));
  peering.message(a, { seq: 1, ts: 5 });
  assert.deepEqual(b.sent, [{ seq: 1, ts: 5 }]);
  assert.deepEqual(c.sent, [{ seq: 1, ts: 5 }]);
  assert.deepEqual(a.sent, []);
  const stats = gw.stats();
  assert.equal(stats.routes["forward#1"].messages, 2);
  assert.equal(stats.routes["forward#1"].in, 1);
  assert.equal(stats.received, 1);
  assert.deepEqual(stats.peers, ["arm-1", "arm-2", "arm-3"]);
});

test("a message no rule takes is counted unrouted", () => {
  const { gw, peering } = gateway('[[forward]]\nfrom = "a"\nto = "b"\n');
  peering.message(peering.connect("z"), "hello");
  assert.equal(gw.stats().unrouted, 1);
});

test("mux: the window closes on its timer and the sink gets aggregate v1", () => {
  const { gw, peering, timers } = gateway('[[mux]]\nfrom = "s-*"\nto = "sink"\n');
  const sink = peering.connect("sink");
  const s0 = peering.connect("s-0");
  const s1 = peering.connect("s-1");
  peering.message(s0, { ts: 1.5, v: 1 });
  timers.advance(100);
  peering.message(s1, "plain");
  peering.message(s0, { ts: 2.5, v: 2 });
  assert.deepEqual(sink.sent, [], "the window is still open");
  timers.advance(150);
  assert.equal(sink.sent.length, 1);
  const [aggregate] = sink.sent;
  assert.equal(aggregate.mux, 1);
  assert.deepEqual(
    aggregate.parts.map((p) => [p.src, p.seq, p.data]),
    [
      ["s-0", 0, { ts: 1.5, v: 1 }],
      ["s-1", 0, "plain"],
      ["s-0", 1, { ts: 2.5, v: 2 }],
    ],
  );
  assert.equal(aggregate.parts[0].ts, 1.5, "a message's own ts");
  assert.equal(typeof aggregate.parts[1].ts, "number", "else its arrival");
  const route = gw.stats().routes["mux#1"];
  assert.equal(route.messages, 1);
  assert.equal(route.parts_out, 3);
  assert.equal(route.latency_ms.max, 250, "the oldest part waited the whole window");
  assert.equal(route.processing_ms.count, 1);
});

test("mux: a late timer (a throttled tab) closes the window at the next message", () => {
  const { peering, timers } = gateway('[[mux]]\nfrom = "s"\nto = "sink"\nwindow = 0.1\n');
  const sink = peering.connect("sink");
  const s = peering.connect("s");
  peering.message(s, 1);
  timers.clock.t += 400; // the timer did not run
  peering.message(s, 2);
  assert.deepEqual(sink.sent.map((m) => m.parts.map((p) => p.data)), [[1]]);
});

test("demux: parts go to their dst, else the rule's to; repeats dropped, gaps counted", () => {
  const { gw, peering } = gateway('[[demux]]\nfrom = "cloud"\nto = ["r-0"]\n');
  const r0 = peering.connect("r-0");
  const r1 = peering.connect("r-1");
  const cloud = peering.connect("cloud");
  const part = (seq, data, dst) => ({ src: "d", seq, ts: 1, data, ...(dst ? { dst } : {}) });
  peering.message(cloud, { mux: 1, parts: [part(0, "a"), part(1, "b", "r-1")] });
  peering.message(cloud, { mux: 1, parts: [part(1, "b", "r-1"), part(3, "d")] });
  peering.message(cloud, { mux: 2, parts: [] });
  assert.deepEqual(r0.sent, ["a", "d"]);
  assert.deepEqual(r1.sent, ["b"]);
  const route = gw.stats().routes["demux#1"];
  assert.equal(route.in, 3);
  assert.equal(route.lost, 1);
  assert.equal(route.duplicates, 1);
  assert.equal(route.dropped_by.malformed, 1);
});

test("back-pressure: past high water messages wait, the oldest dropped, drained on bufferedamountlow", () => {
  const { gw, peering } = gateway('[[forward]]\nfrom = "a"\nto = "b"\n');
  const a = peering.connect("a");
  const b = peering.connect("b");
  b.perMessage = 100;
  for (let i = 0; i < 9; i++) peering.message(a, i);
  assert.deepEqual(b.sent, [0, 1, 2], "sent while under 250 buffered bytes");
  assert.equal(gw.stats().queues.b.queued, 3);
  assert.equal(gw.stats().routes["forward#1"].dropped_by.queue_full, 3);
  assert.equal(b.dataChannel.bufferedAmountLowThreshold, 125);
  b.perMessage = 0;
  b.dataChannel.low();
  assert.deepEqual(b.sent, [0, 1, 2, 6, 7, 8]);
  assert.equal(gw.stats().queues.b.queued, 0);
});

test("a value the channel cannot carry is counted send_failed, the connection kept", () => {
  const { gw, peering } = gateway('[[forward]]\nfrom = "a"\nto = "b"\n');
  const a = peering.connect("a");
  const b = peering.connect("b", "json");
  peering.message(a, "x".repeat(17_000));
  peering.message(a, "small");
  assert.deepEqual(b.sent, ["small"]);
  assert.equal(gw.stats().routes["forward#1"].dropped_by.send_failed, 1);
});

test("an absent destination is dialed; a named one keeps its queue while away", () => {
  const { gw, peering } = gateway('[[forward]]\nfrom = "a"\nto = "b"\n');
  const a = peering.connect("a");
  peering.message(a, 1);
  assert.deepEqual(peering.dialed, ["b"]);
  peering.handlers.dialFailed("b", "cannot reach b");
  assert.equal(gw.stats().queues.b.queued, 1, "b is named: its queue waits");
  const b = peering.connect("b");
  assert.deepEqual(b.sent, [1]);
  peering.leave(b);
  peering.message(a, 2);
  assert.equal(gw.stats().queues.b.queued, 1);
});

test("with dial=0 nothing is dialed", () => {
  const { peering } = gateway('[[forward]]\nfrom = "a"\nto = "b"\n', { dial: false });
  peering.message(peering.connect("a"), 1);
  assert.deepEqual(peering.dialed, []);
});

test("a demux part's dst that is not there leaves no queue behind", () => {
  const { gw, peering } = gateway('[[demux]]\nfrom = "cloud"\n');
  const cloud = peering.connect("cloud");
  peering.message(cloud, { mux: 1, parts: [{ src: "d", seq: 0, ts: 1, data: "x", dst: "ghost" }] });
  assert.deepEqual(peering.dialed, ["ghost"]);
  peering.handlers.dialFailed("ghost", "cannot reach ghost");
  assert.equal(gw.stats().queues.ghost, undefined);
  assert.equal(gw.stats().routes["demux#1"].dropped_by.peer_gone, 1);
});

test("bridge: messages become publishes with the sender's ts, hub messages reach the peer", async () => {
  const toml = '[[bridge]]\npeer = "thermo-*"\npublish = "sensors/{peer}"\nsubscribe = "commands/{peer}"\n';
  const { gw, peering, hub } = gateway(toml, { hub: "ws://127.0.0.1:1/ws" });
  const t = peering.connect("thermo-1");
  await flush();
  assert.deepEqual(hub.subs.map((s) => s.pattern), ["commands/thermo-1"]);
  peering.message(t, { c: 21.5, ts: 1764000000000 });
  peering.message(t, new Uint8Array([1, 2]));
  await flush();
  assert.deepEqual(hub.published, [{ subject: "sensors/thermo-1", data: { c: 21.5, ts: 1764000000000 }, published: 1764000000000 }]);
  hub.deliver("commands/thermo-1", { on: true });
  assert.deepEqual(t.sent, [{ type: "publish", subject: "commands/thermo-1", data: { on: true } }]);
  const route = gw.stats().routes["bridge#1"];
  assert.equal(route.in, 3);
  assert.equal(route.out, 2);
  assert.equal(route.dropped_by.unserializable, 1);
  peering.leave(t);
  assert.deepEqual(hub.unsubscribed, ["commands/thermo-1"]);
  hub.full = true;
  peering.message(peering.connect("thermo-2"), { c: 1 });
  await flush();
  assert.equal(gw.stats().routes["bridge#1"].dropped_by.hub_queue_full, 1);
});

test("a peer id that would change a bridge's subject gets no bridge, a warning names it", async () => {
  const toml = '[[bridge]]\npeer = "*"\nsubscribe = "commands/{peer}"\n';
  const { gw, peering, hub } = gateway(toml, { hub: "ws://127.0.0.1:1/ws" });
  peering.connect("thermo-2/#");
  await flush();
  assert.deepEqual(hub.subs, []);
  assert.equal(gw.stats().routes["bridge#1"].refused, 1);
  assert.ok(gw.log.some((e) => e.level === "warn" && e.text.startsWith("bridge#1: no bridge for thermo-2/#")));
});

test("bridges without a hub are refused, naming what to add", () => {
  const { gw } = gateway("");
  assert.throws(
    () => gw.setRoutes(loadsRoutes('[[bridge]]\npeer = "a"\npublish = "x"\n')),
    (error) => error instanceof RoutesError && error.message.includes("need a hub: add hub=ws://"),
  );
});

test("new routes apply to the peers already connected; the old window is flushed first", async () => {
  const { gw, peering } = gateway('[[mux]]\nfrom = "s"\nto = "sink"\n');
  const sink = peering.connect("sink");
  const s = peering.connect("s");
  peering.message(s, 1);
  gw.setRoutes(loadsRoutes('[[forward]]\nfrom = "s"\nto = "sink"\n'));
  assert.equal(sink.sent.length, 1, "the open window went out");
  peering.message(s, 2);
  assert.deepEqual(sink.sent.slice(1), [2]);
  assert.deepEqual(Object.keys(gw.stats().routes), ["forward#1"]);
});

test("close flushes the mux windows and closes the peering", () => {
  const { gw, peering } = gateway('[[mux]]\nfrom = "s"\nto = "sink"\n');
  const sink = peering.connect("sink");
  peering.message(peering.connect("s"), 1);
  gw.close();
  assert.equal(sink.sent.length, 1);
  assert.equal(peering.closed, true);
});
