// Aggregate format v1 and the Multiplexer/Demultiplexer of the gateway page
// (web/gateway/aggregate.js), on an injected clock: as earlgate.gateway.mux.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AggregateError,
  Demultiplexer,
  Multiplexer,
  decode,
  encode,
  isAggregate,
  sizeOf,
} from "../../src/earlgate/web/gateway/aggregate.js";

function clock(start = 100) {
  const c = { t: start, now: () => c.t };
  return c;
}

test("encode and decode round-trip, dst only when set", () => {
  const parts = [
    { src: "arm-3", seq: 41, ts: 1764000000123.5, data: { v: [1, 2, 3] }, dst: "arm-7" },
    { src: "arm-4", seq: 0, ts: 1764000000124, data: "x", dst: null },
  ];
  const message = encode(parts);
  assert.deepEqual(message, {
    mux: 1,
    parts: [
      { src: "arm-3", seq: 41, ts: 1764000000123.5, data: { v: [1, 2, 3] }, dst: "arm-7" },
      { src: "arm-4", seq: 0, ts: 1764000000124, data: "x" },
    ],
  });
  assert.deepEqual(decode(JSON.parse(JSON.stringify(message))), parts);
  assert.ok(isAggregate(message));
  assert.ok(!isAggregate({ mux: 1 }) && !isAggregate([1]) && !isAggregate("mux") && !isAggregate(null));
});

test("a malformed aggregate names its first fault", () => {
  const cases = [
    [[], "aggregate: expected an object, got list"],
    [{ mux: 2, parts: [] }, "aggregate: unsupported format version mux=2"],
    [{ mux: "1", parts: [] }, "aggregate: unsupported format version mux='1'"],
    [{ mux: 1, parts: {} }, "aggregate: 'parts' must be a list"],
    [{ mux: 1, parts: [3] }, "aggregate: parts[0]: expected an object"],
    [{ mux: 1, parts: [{ src: "", seq: 0, ts: 1, data: 1 }] }, "aggregate: parts[0].src: expected a non-empty string"],
    [{ mux: 1, parts: [{ src: "a", seq: -1, ts: 1, data: 1 }] }, "aggregate: parts[0].seq: expected a non-negative integer"],
    [{ mux: 1, parts: [{ src: "a", seq: 1.5, ts: 1, data: 1 }] }, "aggregate: parts[0].seq: expected a non-negative integer"],
    [{ mux: 1, parts: [{ src: "a", seq: 0, ts: "now", data: 1 }] }, "aggregate: parts[0].ts: expected a timestamp in milliseconds"],
    [{ mux: 1, parts: [{ src: "a", seq: 0, ts: 1 }] }, "aggregate: parts[0].data: missing"],
    [{ mux: 1, parts: [{ src: "a", seq: 0, ts: 1, data: 1, dst: 5 }] }, "aggregate: parts[0].dst: expected a non-empty string"],
  ];
  for (const [message, text] of cases) assert.throws(() => decode(message), (e) => e instanceof AggregateError && e.message === text);
});

test("a window closes at its time, with per-source sequence numbers", () => {
  const c = clock();
  const mux = new Multiplexer({ window: 0.25, clock: c.now, timer: c.now, nowMs: () => 5000 });
  assert.equal(mux.deadline(), null);
  assert.equal(mux.add("a", { ts: 1 }, { ts: 1 }), null);
  assert.equal(mux.add("b", 2), null);
  c.t += 0.1;
  assert.equal(mux.add("a", 3), null);
  assert.equal(mux.deadline(), 100.25);
  assert.equal(mux.poll(), null);
  c.t = 100.3; // a late timer (a throttled tab) closes it late, never loses it
  const batch = mux.poll();
  assert.equal(batch.parts, 3);
  assert.ok(Math.abs(batch.heldS - 0.3) < 1e-9);
  assert.deepEqual(
    batch.message.parts.map((p) => [p.src, p.seq, p.ts]),
    [["a", 0, 1], ["b", 0, 5000], ["a", 1, 5000]],
  );
  assert.equal(mux.buffered, 0);
  assert.equal(mux.deadline(), null);
  mux.add("a", 4);
  assert.equal(mux.flush().message.parts[0].seq, 2);
  assert.equal(mux.flush(), null);
});

test("a window closes early at max parts or max bytes", () => {
  const c = clock();
  const byParts = new Multiplexer({ maxParts: 3, clock: c.now });
  assert.equal(byParts.add("a", 1), null);
  assert.equal(byParts.add("a", 2), null);
  assert.equal(byParts.add("a", 3).parts, 3);
  const byBytes = new Multiplexer({ maxBytes: 100, clock: c.now });
  assert.equal(byBytes.add("a", "x", { size: 60 }), null);
  const full = byBytes.add("b", "y", { size: 60 }); // would pass 100: the window before it goes
  assert.equal(full.parts, 1);
  assert.equal(byBytes.buffered, 1);
  assert.equal(byBytes.add("c", "z", { size: 40 }).parts, 2); // reaches 100 exactly
  assert.throws(() => new Multiplexer({ window: 0 }), RangeError);
  assert.throws(() => new Multiplexer({ maxBytes: 0 }), RangeError);
});

test("the demultiplexer counts gaps, drops repeats, starts a late source where it is", () => {
  const demux = new Demultiplexer({ timer: () => 0 });
  const part = (src, seq) => ({ src, seq, ts: 1, data: `${src}${seq}` });
  assert.deepEqual(demux.split(encode([part("a", 5), part("a", 6), part("b", 0)])).map((p) => p.data), ["a5", "a6", "b0"]);
  assert.deepEqual(demux.split(encode([part("a", 6), part("a", 9), part("b", 1)])).map((p) => p.data), ["a9", "b1"]);
  assert.deepEqual(demux.sources.get("a"), { received: 3, lost: 2, duplicates: 1, nextSeq: 10 });
  assert.deepEqual(demux.totals(), { lost: 2, duplicates: 1 });
  assert.throws(() => demux.split({ mux: 1, parts: [part("a", 10), 5] }), AggregateError);
  assert.equal(demux.sources.get("a").nextSeq, 10, "a malformed aggregate changes nothing");
});

test("what a message weighs for the byte bound", () => {
  assert.equal(sizeOf({ a: "é" }), 10);
  assert.equal(sizeOf(new Uint8Array(7)), 7);
  assert.equal(sizeOf(new ArrayBuffer(3)), 3);
  assert.throws(() => sizeOf(10n), TypeError);
  assert.throws(() => sizeOf(undefined), TypeError);
});
