// The arm-probe page's pure parts (web/arm/mesh.js, params.js): the ids and
// messages of earlgate.gateway.mesh, a member's counters and delays, and the
// URL parameters with each wrong one named.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DELAYS_KEPT, MemberStats, dialTargets, isReading, messageFor, others, peerId, percentile } from "../../src/earlgate/web/arm/mesh.js";
import { ParamError, parseArmParams } from "../../src/earlgate/web/arm/params.js";

test("ids and who dials whom, as the Python mesh names them", () => {
  assert.equal(peerId("bm10", 7), "bm10-7");
  assert.deepEqual(dialTargets("m", 3), ["m-0", "m-1", "m-2"]);
  assert.deepEqual(dialTargets("m", 0), []);
  assert.deepEqual(others("m", 4, 2), ["m-0", "m-1", "m-3"]);
});

test("a reading has message_for's fields and values, and is size characters of JSON", () => {
  // earlgate.gateway.mesh.message_for("m-1", seq, 100, 1764000000123.25)["v"]
  const python = { 0: [0, 1, 9.81], 1: [0.2474, 0.9689, 9.81], 5: [0.949, 0.3153, 9.81], 13: [-0.1082, -0.9941, 9.81] };
  for (const [seq, v] of Object.entries(python)) {
    const message = messageFor("m-1", Number(seq), 100, 1764000000123.25);
    assert.deepEqual(Object.keys(message), ["src", "seq", "ts", "v", "pad"]);
    assert.deepEqual(message.v, v);
    assert.equal(message.src, "m-1");
    assert.equal(message.ts, 1764000000123.25);
    assert.equal(JSON.stringify(message).length, 100);
    assert.match(message.pad, /^~*$/);
  }
  assert.equal(messageFor("m-1", 0, 10, 1).pad, "", "too small for its fields: no padding");
});

test("a member counts readings per peer and keeps their delays", () => {
  const member = new MemberStats("m-0");
  assert.equal(member.onMessage("m-1", { src: "m-1", seq: 0, ts: 1000, v: [0, 1, 9.81] }, 1001.5), 1.5);
  member.onMessage("m-1", { seq: 3, ts: 2000 }, 2003);
  member.onMessage("m-2", { seq: 0, ts: 3000 }, 3000.25);
  assert.equal(member.onMessage("m-2", "not a reading", 1), null);
  assert.equal(member.onMessage("m-2", { ts: "soon" }, 1), null);
  const json = member.toJSON();
  assert.deepEqual(json.received, { "m-1": 2, "m-2": 1 });
  assert.deepEqual(json.delays_ms, [1.5, 3, 0.25]);
  assert.equal(json.per_peer["m-1"].lost, 2, "seq 1 and 2 never came");
  assert.equal(json.per_peer["m-1"].last_ms, 3);
  assert.deepEqual(json.per_peer["m-1"].v, [0, 1, 9.81]);
  assert.equal(json.ignored, 2);
});

test("the delays kept are bounded, the newest kept", () => {
  const member = new MemberStats("m-0");
  for (let i = 0; i < DELAYS_KEPT + 5; i++) member.onMessage("m-1", { ts: 0 }, i);
  assert.equal(member.delays.length, DELAYS_KEPT);
  assert.equal(member.delays[0], 5);
});

test("readings and percentiles", () => {
  assert.ok(isReading({ ts: 1 }));
  assert.ok(!isReading([1]) && !isReading(null) && !isReading({ ts: Infinity }));
  assert.equal(percentile([], 0.5), null);
  assert.equal(percentile([3, 1, 2], 0.5), 2);
  assert.equal(percentile([1, 2, 3, 4], 0.99), 4);
});

test("the bench's address, and the defaults", () => {
  const options = parseArmParams("?mesh=bm10&n=10&i=7&rate=4&size=100&key=k&relay-only=1", "http://127.0.0.1:9000");
  assert.equal(options.id, "bm10-7");
  assert.equal(options.peers, 10);
  assert.equal(options.index, 7);
  assert.equal(options.rate, 4);
  assert.equal(options.size, 100);
  assert.equal(options.key, "k");
  assert.equal(options.relayOnly, true);
  assert.deepEqual(options.signal, { host: "127.0.0.1", port: 9000, path: "/", secure: false });
  const plain = parseArmParams("?mesh=m&n=2&i=0", "http://h:1");
  assert.deepEqual([plain.rate, plain.size, plain.connectTimeout, plain.vibrate], [4, 100, 30, true]);
});

test("each wrong arm parameter is named", () => {
  const refused = (search, words) =>
    assert.throws(() => parseArmParams(search, "http://h:1"), (e) => e instanceof ParamError && e.message.includes(words), search);
  refused("?n=3&i=0", "mesh: missing");
  refused("?mesh=a/b&n=3&i=0", "mesh=a/b: letters, digits");
  refused("?mesh=m&i=0", "n: missing");
  refused("?mesh=m&n=1&i=0", "n=1: expected a whole number from 2 to 100");
  refused("?mesh=m&n=3", "i: missing");
  refused("?mesh=m&n=3&i=3", "i=3: expected a whole number from 0 to 2");
  refused("?mesh=m&n=3&i=1.5", "i=1.5");
  refused("?mesh=m&n=3&i=0&rate=0", "rate=0: expected a number > 0");
  refused("?mesh=m&n=3&i=0&size=-1", "size=-1: expected a whole number >= 0");
  refused("?mesh=m&n=3&i=0&size=20000", "size=20000");
  refused("?mesh=m&n=3&i=0&peers=3", "unknown parameter(s) peers");
});

test("a counting window counts the sends in it and the readings stamped in it", () => {
  const stats = new MemberStats("m-0");
  assert.equal(stats.toJSON().window, null);
  stats.onSent(3, 900); // before the window: in the totals only
  stats.onMessage("m-1", messageFor("m-1", 0, 100, 950), 960);
  stats.countWindow(1000, 2000);
  stats.onSent(3, 1000);
  stats.onSent(3, 1999);
  stats.onSent(3, 2000); // the end is not in it
  // stamped before the window, arriving in it: not counted; stamped in it, arriving after: counted
  stats.onMessage("m-1", messageFor("m-1", 1, 100, 990), 1005);
  stats.onMessage("m-1", messageFor("m-1", 2, 100, 1500), 1502);
  stats.onMessage("m-2", messageFor("m-2", 0, 100, 1999), 2030);
  stats.onMessage("m-2", messageFor("m-2", 1, 100, 2000), 2001);
  const { window, sent, received } = stats.toJSON();
  assert.deepEqual(window, { start_ms: 1000, end_ms: 2000, sent: 6, received: 2, delays_ms: [2, 31] });
  assert.equal(sent, 12);
  assert.deepEqual(received, { "m-1": 3, "m-2": 2 });
});

test("a counting window must have its start before its end", () => {
  const stats = new MemberStats("m-0");
  assert.throws(() => stats.countWindow(2000, 1000), RangeError);
  assert.throws(() => stats.countWindow(Number.NaN, 1000), /start < end/);
});
