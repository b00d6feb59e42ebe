// The pure parts of earlgate.js: subject rules (the hub's, wire/subjects.py),
// backoff, JWT exp decoding, resume bookkeeping. Run with: node --test tests/js/
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Subscription,
  SubjectError,
  backoffDelay,
  checkPattern,
  checkSubject,
  matches,
  refreshAt,
  tokenExp,
} from "../../src/earlgate/web/earlgate.js";

test("subjects follow the hub's rules", () => {
  for (const ok of ["earl/arm-07/accel", "subject00001", "a", "x".repeat(256), "é/ü"]) assert.equal(checkSubject(ok), ok);
  const bad = {
    "": /empty/,
    "$hub/x": /reserved/,
    "a//b": /empty level/,
    "/a": /empty level/,
    "a/": /empty level/,
    "a\0b": /NUL/,
    "earl/+/accel": /wildcards/,
    "earl/#": /wildcards/,
    ["x".repeat(257)]: /256 bytes/,
    ["é".repeat(129)]: /256 bytes/,
    "a\uD800": /UTF-8/,
  };
  for (const [subject, reason] of Object.entries(bad)) {
    assert.throws(() => checkSubject(subject), (e) => e instanceof SubjectError && e.code === "bad_subject" && reason.test(e.message), subject);
  }
  assert.throws(() => checkSubject(7), SubjectError);
});

test("patterns follow the hub's rules", () => {
  for (const ok of ["earl/+/accel", "#", "+", "earl/#", "+/+/#", "plain"]) assert.equal(checkPattern(ok), ok);
  for (const [pattern, reason] of [
    ["earl/#/x", /last level/],
    ["earl/a+", /whole level/],
    ["ea#", /whole level/],
    ["$hub/#", /reserved/],
    ["a//#", /empty level/],
  ])
    assert.throws(() => checkPattern(pattern), reason, pattern);
});

test("matches: + is one level, # any number, zero included", () => {
  assert.ok(matches("earl/+/accel", "earl/arm/accel"));
  assert.ok(!matches("earl/+/accel", "earl/arm/x/accel"));
  assert.ok(matches("earl/#", "earl"));
  assert.ok(matches("earl/#", "earl/a/b/c"));
  assert.ok(matches("#", "x/y"));
  assert.ok(!matches("earl/+", "earl"));
  assert.ok(matches("a/b", "a/b"));
  assert.ok(!matches("a/b", "a/c"));
});

test("backoff: full jitter under an exponential bound capped at max", () => {
  const cfg = { initial: 500, max: 20000 };
  assert.equal(backoffDelay(0, cfg, () => 0.999999), 499);
  assert.equal(backoffDelay(3, cfg, () => 0.5), 2000);
  assert.equal(backoffDelay(10, cfg, () => 0.999999), 19999);
  assert.equal(backoffDelay(1000, cfg, () => 0.999999), 19999);
  assert.equal(backoffDelay(5, cfg, () => 0), 0);
  for (let i = 0; i < 100; i++) assert.ok(backoffDelay(i % 8, cfg) < Math.min(20000, 500 * 2 ** (i % 8)));
});

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
const jwt = (claims) => `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}.sig`;

test("tokenExp reads the payload's exp, null otherwise", () => {
  assert.equal(tokenExp(jwt({ sub: "a", exp: 1767225600 })), 1767225600);
  assert.equal(tokenExp(jwt({ sub: "é?>~~~", exp: 12 })), 12); // base64url characters
  assert.equal(tokenExp(jwt({ sub: "a" })), null);
  assert.equal(tokenExp("not a token"), null);
  assert.equal(tokenExp(null), null);
  assert.equal(tokenExp("a.!!!.c"), null);
});

test("refreshAt: a quarter of the time left before exp, at most 30 s before", () => {
  assert.equal(refreshAt(5, 1000), 1000 + 3000);
  assert.equal(refreshAt(3600, 0), 3600000 - 30000);
  assert.equal(refreshAt(1, 5000), 5000); // already expired: now
});

test("an exact durable subject resumes from its offset, drops duplicates, notices a new epoch", () => {
  const sub = new Subscription("durable/a");
  assert.deepEqual(sub.subscribeFrame(1), { type: "subscribe", subject: "durable/a", id: 1 });
  assert.ok(sub.push({ subject: "durable/a", _offset: 4, _epoch: "e1" }));
  assert.ok(sub.push({ subject: "durable/a", _offset: 5, _epoch: "e1" }));
  assert.deepEqual(sub.subscribeFrame(2), { type: "subscribe", subject: "durable/a", id: 2, since: 5, epoch: "e1" });
  assert.ok(!sub.push({ subject: "durable/a", _offset: 5, _epoch: "e1" }));
  assert.equal(sub.duplicates, 1);
  const lost = [];
  sub.on("unrecovered", (d) => lost.push(d.subscription));
  assert.ok(sub.push({ subject: "durable/a", _offset: 1, _epoch: "e2" }));
  assert.deepEqual(lost, [sub]);
  assert.equal(sub.recovered, false);
  assert.equal(sub.epoch, "e2");
});

test("an ack with recovered false is the unrecoverable signal", () => {
  const sub = new Subscription("durable/a", { since: 9, epoch: "old" });
  assert.deepEqual(sub.subscribeFrame(3), { type: "subscribe", subject: "durable/a", id: 3, since: 9, epoch: "old" });
  let events = 0;
  sub.on("unrecovered", () => events++);
  sub.acked({ type: "ack", id: 3, recovered: true });
  assert.equal(sub.recovered, true);
  assert.equal(events, 0);
  sub.acked({ type: "ack", id: 3, recovered: false });
  assert.equal(sub.recovered, false);
  assert.equal(events, 1);
  assert.equal(sub.epoch, null);
});

test("a pattern with resume keeps one position per subject", () => {
  const sub = new Subscription("earl/+/alarm", { resume: true });
  assert.equal(sub.subscribeFrame(1).resume, true);
  sub.acked({ type: "ack", id: 1, positions: { "earl/a/alarm": [41, "e"] } });
  assert.ok(!sub.push({ subject: "earl/a/alarm", _offset: 41, _epoch: "e" }));
  assert.ok(sub.push({ subject: "earl/a/alarm", _offset: 57, _epoch: "e" }));
  assert.ok(sub.push({ subject: "earl/b/alarm", _offset: 3, _epoch: "e" }));
  assert.deepEqual(sub.subscribeFrame(2).resume, { "earl/a/alarm": [57, "e"], "earl/b/alarm": [3, "e"] });
});

test("last is sent until an offset is known; since on a pattern is refused", () => {
  assert.equal(new Subscription("a/+", { last: true }).subscribeFrame(1).last, true);
  assert.throws(() => new Subscription("a/+", { since: 1 }), /resume/);
  assert.throws(() => new Subscription("a/#/b"), SubjectError);
});

test("for await reads a bounded buffer, oldest dropped", async () => {
  const sub = new Subscription("a", { maxsize: 2 });
  const iterator = sub[Symbol.asyncIterator]();
  for (const n of [1, 2, 3]) sub.deliver({ subject: "a", data: n });
  assert.equal(sub.dropped, 1);
  assert.equal((await iterator.next()).value.data, 2);
  assert.equal((await iterator.next()).value.data, 3);
  const waiting = iterator.next();
  sub.deliver({ subject: "a", data: 4 });
  assert.equal((await waiting).value.data, 4);
  sub.end();
  assert.equal((await iterator.next()).done, true);
});
