// The gateway page's URL parameters (web/gateway/params.js): defaults, every
// flag of `earlgate gateway`, and a ParamError naming each wrong one.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DEFAULTS,
  MAX_HIGH_WATER,
  ParamError,
  parseParams,
  signalServer,
} from "../../src/earlgate/web/gateway/params.js";

const ORIGIN = "http://127.0.0.1:9000";

function refused(search, words) {
  assert.throws(
    () => parseParams(search, ORIGIN),
    (error) => error instanceof ParamError && error.message.includes(words),
    `${search} should be refused with ${words}`,
  );
}

test("the defaults are the Python gateway's, the signaling server the page's origin", () => {
  const options = parseParams("?id=gw", ORIGIN);
  assert.equal(options.id, "gw");
  assert.deepEqual(options.signal, { host: "127.0.0.1", port: 9000, path: "/", secure: false });
  assert.equal(options.key, "peerjs");
  assert.deepEqual(options.ice, []);
  assert.equal(options.relayOnly, false);
  assert.equal(options.dial, true);
  assert.equal(options.routes, null);
  assert.equal(options.hub, null);
  assert.equal(options.muxWindow, 0.25);
  assert.equal(options.muxMaxBytes, 15_000);
  assert.equal(options.queueLimit, 1000);
  assert.equal(options.highWater, 262_144);
  assert.equal(options.serialization, "binary");
  assert.equal(options.connectTimeout, DEFAULTS.connectTimeout);
});

test("the bench's URL: routes on the page's origin, no dialing, relay-only ICE", () => {
  const ice = JSON.stringify([{ urls: "turn:127.0.0.1:3478?transport=udp", username: "u", credential: "p" }]);
  const search = new URLSearchParams({
    id: "bench-gw",
    routes: `${ORIGIN}/bench-routes.toml`,
    dial: "0",
    key: "k1",
    ice,
    "relay-only": "1",
  });
  const options = parseParams(search, ORIGIN);
  assert.equal(options.routes, "http://127.0.0.1:9000/bench-routes.toml");
  assert.equal(options.dial, false);
  assert.equal(options.key, "k1");
  assert.equal(options.relayOnly, true);
  assert.deepEqual(options.ice, JSON.parse(ice));
});

test("a relative routes URL is made absolute against the page", () => {
  assert.equal(parseParams("?id=gw&routes=/r/star.toml", ORIGIN).routes, `${ORIGIN}/r/star.toml`);
});

test("every flag is read", () => {
  const options = parseParams(
    "?id=gw-2&hub=ws://127.0.0.1:8080/ws&hub-token=t0k&mux-window=0.5&mux-max-bytes=9000" +
      "&mux-max-parts=10&queue-limit=5&high-water=4096&connect-timeout=3&serialization=json&dial=no",
    ORIGIN,
  );
  assert.equal(options.hub, "ws://127.0.0.1:8080/ws");
  assert.equal(options.hubToken, "t0k");
  assert.equal(options.muxWindow, 0.5);
  assert.equal(options.muxMaxBytes, 9000);
  assert.equal(options.muxMaxParts, 10);
  assert.equal(options.queueLimit, 5);
  assert.equal(options.highWater, 4096);
  assert.equal(options.connectTimeout, 3);
  assert.equal(options.serialization, "json");
  assert.equal(options.dial, false);
});

test("the signaling server as http(s) or ws(s), with its path", () => {
  assert.deepEqual(signalServer("https://sig.example/base", ORIGIN), {
    host: "sig.example",
    port: 443,
    path: "/base/",
    secure: true,
  });
  assert.deepEqual(signalServer("ws://10.0.0.2:9000/app/peerjs", ORIGIN), {
    host: "10.0.0.2",
    port: 9000,
    path: "/app/",
    secure: false,
  });
  assert.deepEqual(signalServer("ws://10.0.0.2:9000/peerjs", ORIGIN).path, "/");
  assert.deepEqual(signalServer(null, "https://phone.local:8443"), {
    host: "phone.local",
    port: 8443,
    path: "/",
    secure: true,
  });
});

test("each wrong parameter is named", () => {
  refused("", "id: missing");
  refused("?id=", "id: missing");
  refused("?id=-gw", "id=-gw: letters, digits");
  refused("?id=a--b", "id=a--b");
  refused("?id=gw&serialization=msgpack", "serialization=msgpack: expected one of binary, json, raw");
  refused("?id=gw&hub=http://h:1/ws", "hub=http://h:1/ws: expected ws:// or wss://");
  refused("?id=gw&hub=nonsense", "hub=nonsense: not a URL");
  refused("?id=gw&hub-token=x", "hub-token: given without hub=");
  refused("?id=gw&routes=http://[bad", "routes=http://[bad: not a URL");
  refused("?id=gw&mux-window=0", "mux-window=0: expected a number > 0");
  refused("?id=gw&mux-window=soon", "mux-window=soon");
  refused("?id=gw&mux-window=Infinity", "mux-window=Infinity");
  refused("?id=gw&queue-limit=2.5", "queue-limit=2.5: expected a whole number > 0");
  refused("?id=gw&queue-limit=-1", "queue-limit=-1");
  refused("?id=gw&mux-max-bytes=0", "mux-max-bytes=0");
  refused(`?id=gw&high-water=${MAX_HIGH_WATER + 1}`, `high-water=${MAX_HIGH_WATER + 1}: expected a whole number > 0 and <= ${MAX_HIGH_WATER}`);
  refused("?id=gw&connect-timeout=0", "connect-timeout=0");
  refused("?id=gw&dial=maybe", "dial=maybe: expected 1 or 0");
  refused("?id=gw&relay-only=2", "relay-only=2: expected 1 or 0");
  refused("?id=gw&signal=ftp://h/", "signal=ftp://h/: expected http://, https://, ws:// or wss://");
  refused("?id=gw&signal=::", "signal=::: not a URL");
});

test("ICE servers are checked one by one", () => {
  const ice = (value) => `?id=gw&ice=${encodeURIComponent(value)}`;
  refused(ice("{"), "ice: not JSON");
  refused(ice('{"urls": "turn:h"}'), "ice: expected a JSON list of RTCIceServer");
  refused(ice('[{"urls": "turn:h"}, 5]'), "ice[1]: expected {");
  refused(ice("[null]"), "ice[0]: expected {");
  refused(ice("[[]]"), "ice[0]: expected {");
  refused(ice('[{"urls": []}]'), "ice[0]: expected {");
  refused(ice('[{"urls": "turn:h", "username": 7}]'), "ice[0].username: expected a string");
  refused(ice('[{"urls": "turn:h", "password": "x"}]'), "ice[0]: unknown key(s) password");
  const two = parseParams(ice('[{"urls": ["stun:a", "stun:b"]}, {"urls": "turn:c", "username": "u", "credential": "p"}]'), ORIGIN);
  assert.equal(two.ice.length, 2);
});

test("a parameter the page does not know is named, not ignored", () => {
  refused("?id=gw&relay_only=1", "unknown parameter(s) relay_only; expected id, routes");
  refused("?id=gw&x=1&y=2&x=3", "unknown parameter(s) x, y");
});
