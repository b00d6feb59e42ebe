// The browser gateway's device link (src/earlgate/web/ble/link.js) against a
// scripted BluetoothDevice: what it does when a polled read never answers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BleGateway } from "../../src/earlgate/web/ble/link.js";
import { INFO_UUID, READINGS_UUID } from "../../src/earlgate/web/ble/profile/base.js";
import * as profile from "../../src/earlgate/web/ble/profile/index.js";

const asView = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** A temperature device without notifications whose `hang`th reading read never answers. */
function scriptedDevice(hang) {
  const device = new EventTarget();
  device.name = "earl-temp-9";
  device.connects = 0;
  device.reads = 0;
  const characteristic = (uuid) => {
    const char = new EventTarget();
    char.startNotifications = () => Promise.reject(new Error("NotSupportedError: no notifications"));
    char.readValue = () => {
      if (uuid === INFO_UUID) return Promise.resolve(asView(profile.encodeInfo({ kind: "temp", period_us: 50_000, units: "degC" })));
      device.reads += 1;
      if (device.reads === hang) return new Promise(() => {});
      const value = asView(profile.encodeReading({ kind: "temp", seq: device.reads, clock_us: device.reads * 1000, value: 21.5 }));
      char.value = value;
      char.dispatchEvent(Object.assign(new Event("characteristicvaluechanged"), { target: char }));
      return Promise.resolve(value);
    };
    return char;
  };
  const service = {
    getCharacteristic: (uuid) => ([INFO_UUID, READINGS_UUID].includes(uuid) ? Promise.resolve(characteristic(uuid)) : Promise.reject(new Error("NotFoundError"))),
  };
  device.gatt = {
    connect: () => {
      device.connects += 1;
      return Promise.resolve({ getPrimaryService: () => Promise.resolve(service) });
    },
    disconnect: () => device.dispatchEvent(new Event("gattserverdisconnected")),
  };
  return device;
}

function recordingHub() {
  const published = [];
  return {
    published,
    publish: (subject, data) => {
      published.push({ subject, data });
      return Promise.resolve();
    },
    subscribe: () => Promise.resolve({ on() {}, unsubscribe: () => Promise.resolve() }),
  };
}

const until = async (what, check, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`not within ${ms} ms: ${what}`);
};

test("a polled read that never answers drops the link, names the timeout and reconnects", async () => {
  const hub = recordingHub();
  const gateway = new BleGateway({ hub, bluetooth: {}, poll: "always", pollMs: 5, readTimeoutMs: 60 });
  const device = scriptedDevice(3);
  const name = gateway.add(device);
  const links = () => hub.published.filter((p) => p.subject === `earl/${name}/link`).map((p) => p.data);
  await until("connected, disconnected, connected", () => links().length >= 3);
  const [first, dropped, again] = links();
  assert.equal(first.event, "connected");
  assert.equal(dropped.event, "disconnected");
  assert.match(dropped.reason, /poll readings took longer than 60 ms/);
  assert.equal(again.event, "connected");
  assert.equal(device.connects, 2);
  await until("readings after the reconnect", () => device.reads > 5);
  gateway.close();
});

test("the read timeout must be a positive number of ms", () => {
  assert.throws(() => new BleGateway({ hub: recordingHub(), readTimeoutMs: 0 }), /readTimeoutMs must be a positive number of ms, not 0/);
});
