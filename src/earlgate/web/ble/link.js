// A browser gateway's device link: Earl devices over Web Bluetooth to hub
// subjects, hub commands to GATT writes. The decisions are GatewayCore's
// (routing.js, the twin of earlgate.ble.routing); this module only carries
// them out over navigator.bluetooth and a HubClient (/earlgate.js).
//
// Per device: connect, read the device information, subscribe earl/NAME/led
// on the hub, then the status and readings characteristics: notifications
// (startNotifications + characteristicvaluechanged) where the device has
// them, else polling by readValue every `pollMs` (a read fires
// characteristicvaluechanged too, so one listener serves both). A dropped
// link (gattserverdisconnected, or a polled read unanswered for
// `readTimeoutMs`) reconnects after the core's backoff. Every
// GATT operation of a device goes through one queue: Chromium refuses a
// second operation while one is in flight.
import { GatewayCore } from "./routing.js";
import { INFO_UUID, LED_UUID, READINGS_UUID, SERVICE_UUID, STATUS_UUID } from "./profile/base.js";

export const DEFAULT_NAME_PREFIX = "earl-";
export const DEFAULT_POLL_MS = 250;
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10000;
export const DEFAULT_READ_TIMEOUT_MS = 5000;

/**
 * A named failure of the link. Codes: unavailable (no Web Bluetooth),
 * not_allowed (no user gesture, not a secure context, or blocked),
 * no_device (the chooser was closed without a choice), request_failed,
 * gatt (a GATT operation failed; `step` says which), not_earl (no Earl
 * service), timeout, hub (a publish or subscribe the hub refused).
 */
export class BleError extends Error {
  constructor(code, message, { device = null, step = null, cause = undefined } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "BleError";
    this.code = code;
    this.device = device;
    this.step = step;
  }
}

const describe = (error) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/** A device name as one subject level: characters the hub's subjects refuse become "_". */
export function subjectName(name) {
  const cleaned = String(name ?? "").replace(/[/+#\0$]/g, "_").trim();
  return cleaned || "earl-unnamed";
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new BleError("timeout", `${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const defaultClock = () =>
  typeof performance !== "undefined" && performance.timeOrigin ? performance.timeOrigin + performance.now() : Date.now();

/**
 * The Web Bluetooth side of a gateway. Events (EventTarget, `detail`):
 * `change` {name} whenever a device's state or counters move, `error`
 * {error: BleError}.
 */
export class BleGateway extends EventTarget {
  /**
   * @param {object} options
   * @param {import("../earlgate.js").HubClient} options.hub a hub client (connected or connecting)
   * @param {Bluetooth} [options.bluetooth] default navigator.bluetooth
   * @param {string} [options.namePrefix] chooser filter besides the Earl service ("" for none)
   * @param {"auto"|"always"|"never"} [options.poll] auto: poll where notifications fail
   * @param {number} [options.pollMs] ms between polled reads
   * @param {number} [options.commandTimeoutMs] a command's status must come within this
   * @param {number} [options.connectTimeoutMs] a GATT connect must succeed within this
   * @param {number} [options.readTimeoutMs] a polled read must answer within this, else the link counts as dropped
   * @param {() => number} [options.clock] ms since the epoch
   */
  constructor({
    hub,
    bluetooth = globalThis.navigator?.bluetooth,
    namePrefix = DEFAULT_NAME_PREFIX,
    poll = "auto",
    pollMs = DEFAULT_POLL_MS,
    commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
    connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
    readTimeoutMs = DEFAULT_READ_TIMEOUT_MS,
    clock = defaultClock,
  } = {}) {
    super();
    if (!hub || typeof hub.publish !== "function" || typeof hub.subscribe !== "function")
      throw new TypeError("BleGateway needs {hub: HubClient}");
    if (!["auto", "always", "never"].includes(poll)) throw new RangeError(`poll must be auto, always or never, not ${poll}`);
    for (const [key, value] of Object.entries({ pollMs, commandTimeoutMs, connectTimeoutMs, readTimeoutMs })) {
      if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${key} must be a positive number of ms, not ${value}`);
    }
    this.hub = hub;
    this.bluetooth = bluetooth;
    this.namePrefix = namePrefix;
    this.poll = poll;
    this.pollMs = pollMs;
    this.commandTimeoutMs = commandTimeoutMs;
    this.connectTimeoutMs = connectTimeoutMs;
    this.readTimeoutMs = readTimeoutMs;
    this.clock = clock;
    this.core = new GatewayCore();
    this.links = new Map();
    this.published = 0;
    this.publishFailures = 0;
    this.closed = false;
  }

  // -- choosing and adding devices ----------------------------------------------------

  /** The browser's chooser, filtered to Earl devices; connects to the one chosen. Needs a user gesture. */
  async choose() {
    if (!this.bluetooth || typeof this.bluetooth.requestDevice !== "function") {
      throw this.fail(new BleError("unavailable", "Web Bluetooth is not available in this browser (Chromium on Linux: --enable-features=WebBluetooth; the page must be served over https or from localhost)"));
    }
    const filter = { services: [SERVICE_UUID] };
    if (this.namePrefix) filter.namePrefix = this.namePrefix;
    let device;
    try {
      device = await this.bluetooth.requestDevice({ filters: [filter] });
    } catch (error) {
      const name = error?.name;
      if (name === "NotFoundError") throw this.fail(new BleError("no_device", "no device chosen (the chooser was closed, or no Earl device is in range)", { cause: error }));
      if (name === "SecurityError" || name === "NotAllowedError")
        throw this.fail(new BleError("not_allowed", `the browser refused the request: ${describe(error)}`, { cause: error }));
      throw this.fail(new BleError("request_failed", `requestDevice failed: ${describe(error)}`, { cause: error }));
    }
    return this.add(device);
  }

  /** Serve a BluetoothDevice (from choose() or getDevices()); returns its subject name. */
  add(device) {
    const name = this.uniqueName(subjectName(device.name || device.id));
    const link = {
      name,
      device,
      state: "connecting",
      mode: null,
      lastError: null,
      gattErrors: 0,
      writes: 0,
      polls: 0,
      chars: null,
      queue: Promise.resolve(),
      pollTimer: null,
      retryTimer: null,
      subscription: null,
      listening: new WeakSet(),
      session: 0,
    };
    this.links.set(name, link);
    this.core.device(name);
    device.addEventListener("gattserverdisconnected", () => this.dropped(link, "gattserverdisconnected"));
    this.connect(link);
    return name;
  }

  uniqueName(base) {
    let name = base;
    for (let n = 2; this.links.has(name); n++) name = `${base}-${n}`;
    return name;
  }

  // -- one device's session ---------------------------------------------------------

  gatt(link, step, operation) {
    const run = link.queue.then(operation);
    link.queue = run.catch(() => {});
    return run.catch((error) => {
      throw error instanceof BleError ? error : new BleError("gatt", `${link.name}: ${step} failed: ${describe(error)}`, { device: link.name, step, cause: error });
    });
  }

  async connect(link) {
    if (this.closed || link.state === "closed") return;
    const session = ++link.session;
    link.state = "connecting";
    this.changed(link);
    try {
      await this.open(link, session);
    } catch (error) {
      if (session !== link.session || link.state === "closed") return;
      this.fail(error instanceof BleError ? error : new BleError("gatt", `${link.name}: ${describe(error)}`, { device: link.name }), link);
      link.gattErrors += 1;
      this.stopPolling(link);
      try {
        link.device.gatt?.disconnect();
      } catch {
        // already gone
      }
      const wasConnected = this.core.device(link.name).connected;
      const actions = wasConnected ? this.core.disconnected(link.name, describe(error), this.clock()) : this.core.connectFailed(link.name);
      this.carryOut(actions, link);
    }
  }

  async open(link, session) {
    const { name, device } = link;
    if (!device.gatt) throw new BleError("gatt", `${name} has no GATT server`, { device: name, step: "connect" });
    const server = await withTimeout(this.gatt(link, "connect", () => device.gatt.connect()), this.connectTimeoutMs, `${name}: connect`);
    let service;
    try {
      service = await this.gatt(link, "service discovery", () => server.getPrimaryService(SERVICE_UUID));
    } catch (error) {
      throw new BleError("not_earl", `${name} has no Earl service (${SERVICE_UUID}): ${describe(error.cause ?? error)}`, { device: name, step: "service discovery" });
    }
    const characteristic = (uuid, what, optional = false) =>
      this.gatt(link, `${what} characteristic`, () => service.getCharacteristic(uuid)).catch((error) => {
        if (optional) return null;
        throw error;
      });
    const chars = {
      readings: await characteristic(READINGS_UUID, "readings"),
      info: await characteristic(INFO_UUID, "info"),
      led: await characteristic(LED_UUID, "led", true),
      status: await characteristic(STATUS_UUID, "status", true),
    };
    link.chars = chars;
    const info = await this.gatt(link, "read info", () => chars.info.readValue());
    if (session !== link.session) return;
    if (!link.subscription) {
      // subscribed before "connected" is published: a command sent on seeing it is not lost
      const sub = await this.hub.subscribe(`earl/${name}/led`).catch((error) => {
        throw new BleError("hub", `subscribing earl/${name}/led: ${describe(error)}`, { device: name });
      });
      sub.on("message", (frame) => {
        const published = typeof frame.published === "number" ? frame.published : null;
        this.carryOut(this.core.command(name, frame.data, this.clock(), published), link);
      });
      link.subscription = sub;
    }
    const actions = this.core.connected(name, info, this.clock());
    if (actions.some((a) => a.type === "reconnect")) {
      this.carryOut(actions.filter((a) => a.type !== "reconnect"), link);
      throw new BleError("gatt", `${name}: the device information is not the Earl profile's`, { device: name, step: "read info" });
    }
    link.mode = { readings: null, status: null };
    if (chars.status) link.mode.status = await this.listen(link, chars.status, "status", (bytes, now) => this.core.status(name, bytes, now));
    link.state = "connected";
    link.lastError = null;
    this.carryOut(actions, link);
    link.mode.readings = await this.listen(link, chars.readings, "readings", (bytes, now) => this.core.reading(name, bytes, now));
    if (session !== link.session) return;
    if (link.mode.readings === "poll") this.startPolling(link, session);
    this.changed(link);
  }

  /** Listen to a characteristic's values; returns "notify" or "poll". */
  async listen(link, characteristic, what, feed) {
    if (!link.listening.has(characteristic)) {
      link.listening.add(characteristic);
      characteristic.addEventListener("characteristicvaluechanged", (event) => {
        const value = event.target.value;
        if (!value) return;
        const bytes = new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
        this.carryOut(feed(bytes, this.clock()), link);
      });
    }
    if (this.poll === "always") return "poll";
    try {
      await this.gatt(link, `${what} notifications`, () => characteristic.startNotifications());
      return "notify";
    } catch (error) {
      if (this.poll === "never") throw error;
      return "poll";
    }
  }

  startPolling(link, session) {
    const tick = async () => {
      link.pollTimer = null;
      if (session !== link.session || link.state !== "connected") return;
      try {
        const read = this.gatt(link, "poll readings", () => link.chars.readings.readValue());
        await withTimeout(read, this.readTimeoutMs, `${link.name}: poll readings`);
        link.polls += 1;
      } catch (error) {
        if (session !== link.session) return;
        link.gattErrors += 1;
        this.fail(error, link);
        if (error instanceof BleError && error.code === "timeout") {
          // A read that never answers is a link gone quiet: drop it and reconnect.
          this.dropped(link, describe(error));
          try {
            link.device.gatt?.disconnect();
          } catch {
            // already gone
          }
          return;
        }
      }
      if (session === link.session && link.state === "connected") link.pollTimer = setTimeout(tick, this.pollMs);
    };
    link.pollTimer = setTimeout(tick, 0);
  }

  stopPolling(link) {
    if (link.pollTimer !== null) clearTimeout(link.pollTimer);
    link.pollTimer = null;
  }

  dropped(link, reason) {
    if (link.state === "closed" || link.state === "waiting") return;
    link.session += 1; // whatever the old session still awaits is stale now
    this.stopPolling(link);
    link.state = "waiting";
    link.queue = Promise.resolve();
    this.carryOut(this.core.disconnected(link.name, reason, this.clock()), link);
  }

  // -- actions ------------------------------------------------------------------------

  carryOut(actions, link) {
    for (const action of actions) {
      if (action.type === "publish") this.publish(action);
      else if (action.type === "write") this.write(this.links.get(action.device) ?? link, action);
      else if (action.type === "reconnect") this.retry(this.links.get(action.device) ?? link, action.delayMs);
    }
    if (link) this.changed(link);
  }

  publish(action) {
    const options = { retain: action.retain };
    if (action.published !== null) options.published = action.published;
    this.published += 1;
    Promise.resolve(this.hub.publish(action.subject, action.data, options)).catch((error) => {
      this.publishFailures += 1;
      this.fail(new BleError("hub", `publishing ${action.subject}: ${describe(error)}`));
    });
  }

  async write(link, action) {
    const { name } = link;
    const timer = setTimeout(() => {
      if (this.core.waiting(name, action.commandId))
        this.carryOut(this.core.commandTimedOut(name, action.commandId, this.commandTimeoutMs), link);
    }, this.commandTimeoutMs);
    try {
      if (!link.chars?.led) throw new BleError("gatt", `${name} has no LED characteristic`, { device: name, step: "write led" });
      const led = link.chars.led;
      await this.gatt(link, "write led", () => (led.writeValueWithResponse ? led.writeValueWithResponse(action.data) : led.writeValue(action.data)));
      link.writes += 1;
      this.changed(link);
    } catch (error) {
      clearTimeout(timer);
      this.carryOut(this.core.writeFailed(name, action.commandId, describe(error.cause ?? error)), link);
      return;
    }
    // The status answers the write: read it (a notifying device also pushes it; the core answers once).
    const session = link.session;
    while (this.core.waiting(name, action.commandId) && session === link.session && link.chars?.status) {
      try {
        await this.gatt(link, "read status", () => link.chars.status.readValue());
      } catch (error) {
        link.gattErrors += 1;
        this.fail(error, link);
      }
      if (!this.core.waiting(name, action.commandId) || link.mode?.status === "notify") break;
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
    if (!this.core.waiting(name, action.commandId)) clearTimeout(timer);
  }

  retry(link, delayMs) {
    if (this.closed || link.state === "closed") return;
    link.state = "waiting";
    if (link.retryTimer !== null) clearTimeout(link.retryTimer);
    link.retryTimer = setTimeout(() => {
      link.retryTimer = null;
      this.connect(link);
    }, delayMs);
    link.nextRetryAt = this.clock() + delayMs;
  }

  // -- reporting -----------------------------------------------------------------------

  fail(error, link = null) {
    if (link) link.lastError = error.message;
    this.dispatchEvent(new CustomEvent("error", { detail: { error } }));
    if (link) this.changed(link);
    return error;
  }

  changed(link) {
    this.dispatchEvent(new CustomEvent("change", { detail: { name: link.name } }));
  }

  /** One device's state and counters (plain JSON). */
  device(name) {
    const link = this.links.get(name);
    if (!link) return null;
    return {
      name,
      state: link.state,
      mode: link.mode,
      last_error: link.lastError,
      gatt_errors: link.gattErrors,
      writes: link.writes,
      polls: link.polls,
      ...this.core.deviceStatistics(name),
    };
  }

  /** Every device's state and counters, and the gateway's publish totals (plain JSON). */
  statistics() {
    const devices = {};
    for (const name of [...this.links.keys()].sort()) devices[name] = this.device(name);
    return { published: this.published, publish_failures: this.publishFailures, devices };
  }

  /** Stop serving `name`: disconnect, forget its timers and hub subscription. */
  remove(name) {
    const link = this.links.get(name);
    if (!link) return;
    link.state = "closed";
    link.session += 1;
    this.stopPolling(link);
    if (link.retryTimer !== null) clearTimeout(link.retryTimer);
    link.subscription?.unsubscribe().catch(() => {});
    try {
      link.device.gatt?.disconnect();
    } catch {
      // already gone
    }
    this.links.delete(name);
    this.dispatchEvent(new CustomEvent("change", { detail: { name } }));
  }

  close() {
    for (const name of [...this.links.keys()]) this.remove(name);
    this.closed = true;
  }
}
