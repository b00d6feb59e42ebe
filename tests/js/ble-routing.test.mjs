// The browser gateway's pure decisions (src/earlgate/web/ble/routing.js and
// command.js), the twin of earlgate.ble.routing: events in, actions out.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CommandError, parseCommand } from "../../src/earlgate/web/ble/command.js";
import * as profile from "../../src/earlgate/web/ble/profile/index.js";
import { Backoff, ClockMap, GatewayCore, percentile } from "../../src/earlgate/web/ble/routing.js";

const info = (kind) => profile.encodeInfo({ kind, period_us: kind === "ball" ? 0 : 50_000, units: kind === "accel" ? "m/s^2" : kind === "temp" ? "degC" : "" });
const reading = (seq, clock_us, value = 21.5, kind = "temp") => profile.encodeReading({ kind, seq, clock_us, value });

function connectedCore(name = "earl-ball-1", kind = "ball") {
  const core = new GatewayCore();
  const actions = core.connected(name, info(kind), 1000);
  assert.equal(actions.length, 1);
  assert.deepEqual(actions[0].data, { event: "connected", kind, units: { temp: "degC", accel: "m/s^2", ball: "" }[kind], rate_hz: kind === "ball" ? 0 : 20, connects: 1 });
  return core;
}

test("backoff doubles from 100 ms to 5 s and resets", () => {
  const b = new Backoff();
  assert.deepEqual(Array.from({ length: 8 }, () => b.nextDelay()), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  b.reset();
  assert.equal(b.nextDelay(), 100);
});

test("the clock map keeps the smallest offset and resets when the device clock goes back", () => {
  const clock = new ClockMap();
  assert.equal(clock.map(1_000_000, 5000), 5000); // offset 4000
  assert.equal(clock.map(2_000_000, 6010), 6000); // waited 10 ms: mapped to the tighter bound
  assert.equal(clock.map(3_000_000, 6990), 6990); // a smaller offset (3990) wins
  assert.equal(clock.map(10, 9000), 9000); // restarted: a new offset
});

test("nearest-rank percentiles as earlgate.metrics.percentile", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(values, 0.5), 50);
  assert.equal(percentile(values, 0.99), 99);
  assert.equal(percentile([7], 0.99), 7);
  assert.equal(percentile([], 0.5), null);
});

test("readings publish on earl/NAME/KIND with published mapped from the device clock", () => {
  const core = connectedCore("earl-temp-1", "temp");
  const [first] = core.reading("earl-temp-1", reading(1, 1_000_000), 10_000);
  assert.deepEqual(first, { type: "publish", subject: "earl/earl-temp-1/temp", data: { value: 21.5, unit: "degC", seq: 1, clock_us: 1_000_000 }, published: 10_000, retain: false });
  const [second] = core.reading("earl-temp-1", reading(2, 1_050_000, -3.25), 10_058);
  assert.equal(second.published, 10_050);
  assert.equal(second.data.value, -3.25);
  const accel = connectedCore("earl-accel-1", "accel");
  const [xyz] = accel.reading("earl-accel-1", reading(0, 5, [0, -1.5, 9.81], "accel"), 1);
  assert.deepEqual(xyz.data.value, { x: 0, y: -1.5, z: 9.81 });
  assert.equal(xyz.subject, "earl/earl-accel-1/accel");
});

test("a gap is published with what was missing; a repeated seq (a poll without a new sample) is dropped", () => {
  const core = connectedCore("t", "temp");
  core.reading("t", reading(10, 0), 0);
  assert.deepEqual(core.reading("t", reading(10, 0), 1), []);
  const actions = core.reading("t", reading(14, 200_000), 200);
  assert.deepEqual(actions[0].data, { event: "gap", after: 10, next: 14, missing: 3 });
  assert.equal(actions[1].subject, "earl/t/temp");
  assert.equal(core.reading("t", reading(3, 300_000), 300).length, 1); // an older seq: a restart, no gap
  const wrap = connectedCore("w", "temp");
  wrap.reading("w", reading(2 ** 32 - 1, 0), 0);
  assert.equal(wrap.reading("w", reading(0, 1), 1).length, 1); // wrapped, no gap
  assert.equal(wrap.reading("w", reading(2, 2), 2)[0].data.missing, 1);
  const stats = core.deviceStatistics("t");
  assert.equal(stats.readings, 3);
  assert.equal(stats.repeats, 1);
  assert.equal(stats.gaps, 1);
});

test("bad bytes become a bad_notification on earl/NAME/link, bad info a reconnect", () => {
  const core = connectedCore("t", "temp");
  const [bad] = core.reading("t", Uint8Array.from([2, 1]), 5);
  assert.equal(bad.subject, "earl/t/link");
  assert.deepEqual(bad.data, { event: "bad_notification", reason: "reading: version 2, this gateway speaks version 1", bytes: "0201" });
  const [event, reconnect] = new GatewayCore().connected("x", Uint8Array.from([1]), 0);
  assert.equal(event.data.event, "bad_info");
  assert.deepEqual(reconnect, { type: "reconnect", device: "x", delayMs: 100 });
});

test("a hub command becomes the profile's write; the applied status is the retained led/state", () => {
  const core = connectedCore();
  const [write] = core.command("earl-ball-1", { led: "upper", color: [15, 0, 0], blink: { on_ms: 512, off_ms: 1024, fade_ms: 128 }, id: "c1" }, 2000, 1990);
  assert.equal(write.type, "write");
  assert.equal(write.commandId, 1);
  assert.equal(profile.toHex(write.data), "010201000104" + "0f0000" + "000200048000");
  const status = profile.encodeStatus({ result: "applied", id: 1, leds: [{ led: "upper", color: [15, 0, 0], blink: [512, 1024, 128, false] }] });
  assert.deepEqual(core.status("earl-ball-1", status, 2010), [
    {
      type: "publish",
      subject: "earl/earl-ball-1/led/state",
      data: {
        applied: { upper: { color: [15, 0, 0], blink: { on_ms: 512, off_ms: 1024, fade_ms: 128, once: false } } },
        latency_ms: { receive_to_status: 10, command_to_status: 20 },
        command: { id: "c1" },
        id: "c1",
      },
      published: 2010,
      retain: true,
    },
  ]);
  assert.deepEqual(core.status("earl-ball-1", status, 2020), [], "answered once");
});

test("errors are named: a bad command, a refusal, a device without LEDs, a failed write, a timeout, a drop", () => {
  const core = connectedCore();
  const [bad] = core.command("earl-ball-1", { led: "middle", color: [1, 2, 3], id: 5 }, 0);
  assert.equal(bad.subject, "earl/earl-ball-1/led/error");
  assert.equal(bad.data.error, "bad_command");
  assert.match(bad.data.reason, /unknown led "middle"/);
  assert.equal(bad.data.id, 5);
  const [json] = core.command("earl-ball-1", "{nope", 0);
  assert.equal(json.data.error, "bad_json");
  const [long] = core.command("earl-ball-1", { led: "upper", color: [1, 1, 1], blink: { on_ms: 70000, off_ms: 1 } }, 0);
  assert.match(long.data.reason, /65535 ms over BLE/);
  const [write] = core.command("earl-ball-1", { led: "lower", off: true, id: "r" }, 0);
  const refused = profile.encodeStatus({ result: "refused", id: write.commandId, reason: "no free timer" });
  assert.deepEqual(core.status("earl-ball-1", refused, 1)[0].data, { error: "refused", reason: "no free timer", command: { led: "lower", off: true, id: "r" }, id: "r" });
  const [w2] = core.command("earl-ball-1", { led: "lower", brightness: "up" }, 0);
  assert.equal(core.writeFailed("earl-ball-1", w2.commandId, "NetworkError: GATT operation failed")[0].data.error, "ble");
  const [w3] = core.command("earl-ball-1", { led: "lower", brightness: "down" }, 0);
  assert.equal(core.waiting("earl-ball-1", w3.commandId), true);
  assert.equal(core.commandTimedOut("earl-ball-1", w3.commandId, 5000)[0].data.error, "timeout");
  assert.deepEqual(core.commandTimedOut("earl-ball-1", w3.commandId, 5000), []);
  const [w4] = core.command("earl-ball-1", { led: "upper", color: [0, 0, 1] }, 0);
  const dropped = core.disconnected("earl-ball-1", "gattserverdisconnected", 10);
  assert.deepEqual(dropped.map((a) => a.data?.event ?? a.data?.error ?? a.type), ["disconnected", "disconnected", "reconnect"]);
  assert.equal(core.waiting("earl-ball-1", w4.commandId), false);
  assert.equal(core.command("earl-ball-1", { led: "upper", off: true }, 20)[0].data.error, "disconnected");
  const temp = connectedCore("t", "temp");
  assert.equal(temp.command("t", { led: "upper", off: true }, 0)[0].data.error, "not_supported");
  assert.equal(core.deviceStatistics("earl-ball-1").errors, 8);
});

test("parseCommand keeps the Python rules", () => {
  assert.deepEqual(parseCommand({ led: "all", off: true, strict: false }), { action: "off", led: "all", color: [], on_ms: 0, off_ms: 0, fade_ms: 0, once: false, strict: false, id: null });
  assert.equal(parseCommand('{"led": "upper", "brightness": "down"}').action, "down");
  const refused = [
    [null, /no data/],
    [[1], /JSON object, got an array/],
    [{ led: "upper" }, /exactly one of/],
    [{ led: "upper", color: [1, 2, 3], colour: 1 }, /unknown key\(s\) colour/],
    [{ led: "all", color: [1, 2, 3] }, /unknown led/],
    [{ led: "upper", color: [1, 2, 16] }, /three integers 0-15/],
    [{ led: "upper", off: true, blink: {} }, /blink needs a color/],
    [{ led: "upper", color: [1, 1, 1], blink: { on_ms: 1 } }, /blink.off_ms is required/],
    [{ led: "upper", color: [1, 1, 1], blink: { on_ms: -1, off_ms: 1 } }, /blink.on_ms must be/],
    [{ led: "upper", off: true, id: true }, /id must be a string or a number/],
    [{ led: "upper", off: true, id: 2 ** 60 }, /2\^53-1/],
    [{ led: "upper", off: true, id: "x".repeat(257) }, /at most 256 characters/],
    [{ led: "upper", off: true, strict: "yes" }, /strict must be true or false/],
  ];
  for (const [data, reason] of refused) {
    assert.throws(() => parseCommand(data), (error) => error instanceof CommandError && reason.test(error.reason) && error.code === "bad_command", JSON.stringify(data));
  }
  let deep = { led: "upper", off: true };
  for (let i = 0; i < 20; i++) deep = { led: "upper", off: true, id: 1, x: [deep] };
  assert.throws(() => parseCommand(deep), /more than 16 levels/);
  assert.throws(() => parseCommand({ led: "upper", off: false, id: "k" }), (e) => e.commandId === "k");
});
