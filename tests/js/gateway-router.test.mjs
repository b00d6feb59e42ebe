// The routing test vectors (tests/gateway/vectors/router.json), run against the
// browser's router: the same decisions as earlgate.gateway.router, event by event.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Router, RouterError, actionToJson, checkEvent } from "../../src/earlgate/web/gateway/router.js";
import { RoutesError, parseRoutes } from "../../src/earlgate/web/gateway/routes.js";

const VECTORS = JSON.parse(readFileSync(new URL("../gateway/vectors/router.json", import.meta.url), "utf8"));

test("there are vectors, of every event and action", () => {
  assert.ok(VECTORS.length >= 13);
  const events = new Set(VECTORS.flatMap((v) => (v.events ?? []).map((e) => e.type)));
  const actions = new Set(VECTORS.flatMap((v) => (v.expected ?? []).flat().map((a) => a.type)));
  assert.deepEqual([...events].sort(), ["hub", "joined", "left", "message"]);
  assert.deepEqual([...actions].sort(), ["drop", "mux", "publish", "refuse", "send", "subscribe", "unsubscribe"]);
});

for (const vector of VECTORS) {
  test(vector.name, () => {
    if ("error" in vector) {
      assert.throws(
        () => parseRoutes(vector.routes),
        (error) => error instanceof RoutesError && error.message.includes(vector.error),
      );
      return;
    }
    const router = new Router(parseRoutes(vector.routes));
    assert.equal(vector.events.length, vector.expected.length, "one list of actions per event");
    vector.events.forEach((event, index) => {
      const actions = router.handle(checkEvent(event)).map(actionToJson);
      assert.deepStrictEqual(actions, vector.expected[index], `event #${index}: ${JSON.stringify(event)}`);
    });
  });
}

test("refusals and drops say why, for the log", () => {
  const routes = parseRoutes({ bridge: [{ peer: "*", subscribe: "commands/{peer}" }], demux: [{ from: "up", to: [] }] });
  const router = new Router(routes);
  const [refuse] = router.handle({ type: "joined", peer: "thermo-2/#" });
  assert.equal(refuse.type, "refuse");
  assert.equal(refuse.detail, "peer id 'thermo-2/#' holds '#' '/', which would change the subject 'commands/{peer}'");
  const [drop] = router.handle({ type: "message", peer: "up", data: { mux: 2, parts: [] } });
  assert.equal(drop.detail, "bad aggregate from up: aggregate: unsupported format version mux=2");
  assert.equal(router.stats("demux#1").dropped.get("malformed"), 1);
  assert.equal(router.stats("bridge#1").refused, 1);
});

test("the router counts what it received and what no rule took", () => {
  const router = new Router(parseRoutes({ forward: [{ from: "a", to: "b" }] }));
  router.handle({ type: "message", peer: "a", data: 1 });
  router.handle({ type: "message", peer: "z", data: 2 });
  assert.equal(router.metrics.received, 2);
  assert.equal(router.metrics.unrouted, 1);
  assert.equal(router.stats("forward#1").messagesIn, 1);
});

test("events in a wrong JSON form are refused with what was wrong", () => {
  const cases = [
    [null, /an object with a 'type'/],
    [{ type: "nope" }, /must be one of joined, left, message, hub/],
    [{ type: "joined" }, /exactly the keys type, peer/],
    [{ type: "message", peer: "a", data: 1, extra: 2 }, /exactly the keys type, peer, data/],
    [{ type: "hub", peer: "a", subject: 5, message: {} }, /'subject' must be a string/],
  ];
  for (const [event, pattern] of cases) assert.throws(() => checkEvent(event), (e) => e instanceof RouterError && pattern.test(e.message));
});
