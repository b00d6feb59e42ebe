// One arm-probe page's member (web/arm/member.js) over a fake Peering and
// hand-stepped timers: it dials the lower indices again until they answer,
// keeps one connection per peer to send on, sends a reading per tick to each,
// and says who is missing when the mesh does not complete.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArmMember } from "../../src/earlgate/web/arm/member.js";
import { parseArmParams } from "../../src/earlgate/web/arm/params.js";

class FakeConn {
  constructor(peer) {
    this.peer = peer;
    this.serialization = "json";
    this.open = true;
    this.sent = [];
  }

  send(value) {
    this.sent.push(JSON.parse(JSON.stringify(value)));
  }
}

class FakePeering {
  constructor(handlers) {
    this.handlers = handlers;
    this.registered = false;
    this.dials = [];
    this.closed = false;
  }

  start() {
    this.registered = true;
    this.handlers.registered();
  }

  mayDial(peer) {
    return !this.dials.includes(peer);
  }

  dial(peer, { serialization }) {
    assert.equal(serialization, "json", "the mesh's serialization");
    this.dials.push(peer);
  }

  /** The dial to `peer` failed: it may be dialed again. */
  fail(peer) {
    this.dials = this.dials.filter((p) => p !== peer);
  }

  connect(peer) {
    const conn = new FakeConn(peer);
    this.handlers.opened(conn, true);
    return conn;
  }

  close() {
    this.closed = true;
  }
}

function setup(search) {
  const clock = { t: 0 };
  const timers = {
    pending: [],
    after(ms, fn) {
      const entry = { at: clock.t + ms, fn };
      this.pending.push(entry);
      return () => (this.pending = this.pending.filter((e) => e !== entry));
    },
    advance(ms) {
      const end = clock.t + ms;
      for (;;) {
        const due = this.pending.filter((e) => e.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        this.pending = this.pending.filter((e) => e !== due);
        clock.t = due.at;
        due.fn();
      }
      clock.t = end;
    },
  };
  let peering;
  const member = new ArmMember(parseArmParams(search, "http://h:1"), {
    makePeering: (handlers) => (peering = new FakePeering(handlers)),
    timers,
    now: () => clock.t,
    clock: () => 1764000000000 + clock.t,
    random: () => 0.5,
  });
  member.start();
  return { member, peering, timers };
}

test("member 2 of 4 dials 0 and 1, again every half second until they answer", () => {
  const { peering, timers } = setup("?mesh=m&n=4&i=2");
  assert.deepEqual(peering.dials, ["m-0", "m-1"]);
  peering.fail("m-1");
  timers.advance(499);
  assert.deepEqual(peering.dials, ["m-0"]);
  timers.advance(1);
  assert.deepEqual(peering.dials, ["m-0", "m-1"]);
});

test("ready once every other member is connected; a reading per tick to each", async () => {
  const { member, peering, timers } = setup("?mesh=m&n=3&i=1&rate=4&size=100");
  const to0 = peering.connect("m-0");
  const to2 = peering.connect("m-2"); // m-2 dials us
  await member.ready;
  timers.advance(125 + 250 * 3); // first tick at half a period (random 0.5), then every 250 ms
  assert.equal(to0.sent.length, 4);
  assert.deepEqual(to0.sent.map((m) => m.seq), [0, 1, 2, 3]);
  assert.deepEqual(to2.sent, to0.sent, "the same reading to every member");
  assert.equal(JSON.stringify(to0.sent[0]).length, 100);
  assert.equal(to0.sent[1].ts, 1764000000000 + 375);
  assert.equal(member.toJSON().sent, 8);
  assert.deepEqual(member.toJSON().connected, ["m-0", "m-2"]);
});

test("both sides dialed: one connection to send on, readings from both counted", () => {
  const { member, peering, timers } = setup("?mesh=m&n=2&i=1");
  const first = peering.connect("m-0");
  const second = peering.connect("m-0");
  timers.advance(200);
  assert.equal(first.sent.length, 1);
  assert.equal(second.sent.length, 0);
  peering.handlers.data(first, { src: "m-0", seq: 0, ts: 1764000000000 + 150 });
  peering.handlers.data(second, { src: "m-0", seq: 1, ts: 1764000000000 + 190 });
  const stats = member.toJSON();
  assert.deepEqual(stats.received, { "m-0": 2 });
  assert.deepEqual(stats.delays_ms, [50, 10]);
  // The connection it sends on goes: the other one takes over.
  first.open = false;
  peering.handlers.closed(first);
  timers.advance(250);
  assert.equal(second.sent.length, 1);
});

test("a mesh that does not complete in time names who is missing", async () => {
  const { member, peering, timers } = setup("?mesh=m&n=3&i=0&connect-timeout=2");
  peering.connect("m-1");
  timers.advance(2000);
  await assert.rejects(member.ready, /mesh incomplete after 2 s: no connection to m-2/);
  member.close();
  assert.equal(peering.closed, true);
  assert.deepEqual(timers.pending, [], "no timer left");
});
