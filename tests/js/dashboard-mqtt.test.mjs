// The dashboard's MQTT clients panel and connections split, from /stats's blocks.
// Run with: node --test tests/js/
import assert from "node:assert/strict";
import { test } from "node:test";
import { cells, duration, summary } from "../../src/earlgate/web/dashboard/mqtt.js";
import { connectionSplit } from "../../src/earlgate/web/dashboard/stats.js";

const connections = { websocket: 4, mqtt_tcp: 2, mqtt_websocket: 1, mqtt_kept: 1 };

test("durations read as a person reads them", () => {
  assert.equal(duration(0), "0 s");
  assert.equal(duration(119.4), "119 s");
  assert.equal(duration(300), "5 min");
  assert.equal(duration(3 * 3600), "3.0 h");
  assert.equal(duration(3 * 86400), "3.0 d");
  assert.equal(duration(undefined), "0 s");
});

test("the connections figure is split by protocol", () => {
  assert.equal(connectionSplit(connections), "WebSocket 4 · MQTT TCP 2 · /mqtt 1 · kept 1");
  assert.equal(connectionSplit({}), "WebSocket 0 · MQTT TCP 0 · /mqtt 0 · kept 0");
});

test("the summary says how many sessions there are and how many are listed", () => {
  const listed = [{}, {}, {}];
  assert.equal(
    summary({ sessions: 4, kept: 1, listed: listed.concat([{}]) }, connections),
    "4 sessions: 3 connected (2 TCP, 1 /mqtt), 1 kept for a client that is away.",
  );
  assert.match(summary({ sessions: 4, kept: 1, listed }, connections), /; the first 3 listed\.$/);
  assert.match(summary({ sessions: 0, listed: [] }, {}), /^No MQTT session/);
});

test("a session's cells", () => {
  const connected = {
    client_id: "dev", version: "5", transport: "websocket", state: "connected", for_s: 42,
    subscriptions: 3, filters: [{ filter: "a/#", qos: 1 }, { filter: "b", qos: 0 }],
    inflight_out: 2, inflight_in: 1, queued: 0,
  };
  assert.deepEqual(cells(connected), {
    client: "dev", version: "5", transport: "/mqtt", state: "connected 42 s",
    subscriptions: "a/# (1), b (0), +1 more", inflight: "2 / 1", queued: "0",
  });
  const kept = { ...connected, transport: "tcp", state: "kept", for_s: 600, expires_in_s: 7200,
    subscriptions: 0, filters: [], queued: 7 };
  const text = cells(kept);
  assert.equal(text.transport, "TCP");
  assert.equal(text.state, "kept 10 min, ends in 2.0 h");
  assert.equal(text.subscriptions, "none");
  assert.equal(text.queued, "7");
});
