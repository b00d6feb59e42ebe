// The browser gateway's decisions: events in, actions out. Pure (no Web
// Bluetooth, no clock, no hub): the twin of earlgate.ble.routing.GatewayCore.
//
// The link layer (link.js) feeds what happened (a device connected, a
// reading or status value arrived, a hub command came, a write failed, a
// device dropped) with the time it happened, and carries out the actions:
//   {type: "publish", subject, data, published, retain}
//   {type: "write", device, data: Uint8Array, commandId}
//   {type: "reconnect", device, delayMs}
//
// Subjects for a device NAME, as the Python gateway's:
//   earl/NAME/KIND       every reading, `published` mapped from the device clock
//   earl/NAME/link       connected, disconnected, gap, bad_notification, bad_info
//   earl/NAME/led        (subscribed) commands, earlgate led serve's JSON
//   earl/NAME/led/state  (retained) and earl/NAME/led/error: their answers
//
// Two things only a browser needs: a reading whose seq repeats the last one
// is a polled read that found no new sample and is dropped (counted as
// `repeats`), and a command whose status never comes is answered with the
// error `timeout` (commandTimedOut).
import { CommandError, parseCommand } from "./command.js";
import * as profile from "./profile/index.js";

export const SEQ_MOD = 2 ** 32;
export const LEDS = ["lower", "upper"];
export const BACKOFF_INITIAL_MS = 100;
export const BACKOFF_MAX_MS = 5000;
export const DELAYS_KEPT = 10_000;

/** Exponential backoff: 100 ms doubling to 5 s; reset once a link holds. */
export class Backoff {
  constructor(initialMs = BACKOFF_INITIAL_MS, maxMs = BACKOFF_MAX_MS) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.failures = 0;
  }

  nextDelay() {
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 60));
    this.failures += 1;
    return delay;
  }

  reset() {
    this.failures = 0;
  }
}

/**
 * Maps a device's clock (µs since it started) to the epoch (ms): the offset
 * is the smallest `received - device clock` seen, reset when the clock goes
 * back (the device restarted).
 */
export class ClockMap {
  constructor() {
    this.offsetMs = null;
    this.lastClockUs = -1;
  }

  map(clockUs, receivedMs) {
    const clock = Number(clockUs);
    if (clock < this.lastClockUs) this.offsetMs = null;
    this.lastClockUs = clock;
    const candidate = receivedMs - clock / 1000;
    if (this.offsetMs === null || candidate < this.offsetMs) this.offsetMs = candidate;
    return clock / 1000 + this.offsetMs;
  }
}

/** The nearest-rank percentile (earlgate.metrics.percentile): the smallest value with `fraction` at or below it. */
export function percentile(values, fraction) {
  if (!values.length) return null;
  const ordered = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(fraction * ordered.length));
  return ordered[Math.min(rank, ordered.length) - 1];
}

/** A bounded list of the last `limit` values. */
class Recent {
  constructor(limit = DELAYS_KEPT) {
    this.limit = limit;
    this.values = [];
  }

  push(value) {
    this.values.push(value);
    if (this.values.length > this.limit) this.values.splice(0, this.values.length - this.limit);
  }

  summary() {
    const data = this.values;
    if (!data.length) return { count: 0 };
    const round = (v) => Math.round(v * 1000) / 1000;
    return {
      count: data.length,
      p50: round(percentile(data, 0.5)),
      p99: round(percentile(data, 0.99)),
      max: round(Math.max(...data)),
    };
  }
}

function newDevice(name) {
  return {
    name,
    connected: false,
    info: null,
    lastSeq: null,
    lastReading: null,
    clock: new ClockMap(),
    backoff: new Backoff(),
    pending: new Map(),
    readings: 0,
    repeats: 0,
    lost: 0,
    gaps: 0,
    badNotifications: 0,
    connects: 0,
    drops: 0,
    commands: 0,
    applied: 0,
    errors: 0,
    delays: new Recent(),
    commandMs: new Recent(),
  };
}

const publish = (subject, data, published = null, retain = false) => ({ type: "publish", subject, data, published, retain });

/** Python's _ms: a blink time the profile can carry (0-65535 ms, rounded half to even), or null. */
function bleMs(value) {
  if (!Number.isFinite(value) || value < 0 || value > profile.MAX_TIME_MS) return null;
  return profile.roundHalfEven(value);
}

/** Every device's state and the gateway's rules, without I/O. */
export class GatewayCore {
  constructor() {
    this.devices = new Map();
    this.nextId = 1;
  }

  device(name) {
    if (!this.devices.has(name)) this.devices.set(name, newDevice(name));
    return this.devices.get(name);
  }

  // -- link events -------------------------------------------------------------

  connected(name, infoBytes, nowMs) {
    const state = this.device(name);
    let info;
    try {
      info = profile.decodeInfo(infoBytes);
    } catch (error) {
      if (!(error instanceof profile.ProfileError)) throw error;
      state.badNotifications += 1;
      return [
        publish(`earl/${name}/link`, { event: "bad_info", reason: error.message }),
        { type: "reconnect", device: name, delayMs: state.backoff.nextDelay() },
      ];
    }
    state.info = info;
    state.connected = true;
    state.connects += 1;
    state.backoff.reset();
    const event = { event: "connected", kind: info.kind, units: info.units, rate_hz: info.rate_hz, connects: state.connects };
    return [publish(`earl/${name}/link`, event, nowMs)];
  }

  connectFailed(name) {
    return [{ type: "reconnect", device: name, delayMs: this.device(name).backoff.nextDelay() }];
  }

  disconnected(name, reason, nowMs) {
    const state = this.device(name);
    const actions = [];
    if (state.connected) {
      state.drops += 1;
      state.connected = false;
      actions.push(publish(`earl/${name}/link`, { event: "disconnected", reason, last_seq: state.lastSeq }, nowMs));
    }
    for (const pending of state.pending.values()) actions.push(this.error(state, "disconnected", reason, pending));
    state.pending.clear();
    actions.push({ type: "reconnect", device: name, delayMs: state.backoff.nextDelay() });
    return actions;
  }

  // -- values from the device -------------------------------------------------------

  reading(name, data, nowMs) {
    const state = this.device(name);
    let reading;
    try {
      reading = profile.decodeReading(data);
    } catch (error) {
      if (!(error instanceof profile.ProfileError)) throw error;
      state.badNotifications += 1;
      const bytes = profile.toHex(data).slice(0, 64);
      return [publish(`earl/${name}/link`, { event: "bad_notification", reason: error.message, bytes }, nowMs)];
    }
    const actions = [];
    if (state.lastSeq !== null) {
      if (reading.seq === state.lastSeq) {
        state.repeats += 1; // a polled read that found no new sample
        return [];
      }
      const missing = (((reading.seq - state.lastSeq - 1) % SEQ_MOD) + SEQ_MOD) % SEQ_MOD;
      if (missing && missing < SEQ_MOD / 2) {
        state.lost += missing;
        state.gaps += 1;
        const gap = { event: "gap", after: state.lastSeq, next: reading.seq, missing };
        actions.push(publish(`earl/${name}/link`, gap, nowMs));
      } // else an old sequence number: the device restarted
    }
    state.lastSeq = reading.seq;
    state.readings += 1;
    const published = state.clock.map(reading.clock_us, nowMs);
    state.delays.push(nowMs - published);
    let value = reading.value;
    if (Array.isArray(value)) value = { x: value[0], y: value[1], z: value[2] };
    const units = state.info ? state.info.units : "";
    const clock = typeof reading.clock_us === "bigint" ? Number(reading.clock_us) : reading.clock_us;
    const out = { value, unit: units, seq: reading.seq, clock_us: clock };
    state.lastReading = { kind: reading.kind, ...out, published };
    actions.push(publish(`earl/${name}/${reading.kind}`, out, published));
    return actions;
  }

  status(name, data, nowMs) {
    const state = this.device(name);
    let status;
    try {
      status = profile.decodeStatus(data);
    } catch (error) {
      if (!(error instanceof profile.ProfileError)) throw error;
      state.badNotifications += 1;
      const bytes = profile.toHex(data).slice(0, 64);
      return [publish(`earl/${name}/link`, { event: "bad_notification", reason: error.message, bytes }, nowMs)];
    }
    const pending = state.pending.get(status.id);
    if (pending === undefined) return []; // answered already, refused at the ATT layer, or another central's
    state.pending.delete(status.id);
    return [this.answer(state, status, pending, nowMs)];
  }

  answer(state, status, pending, now) {
    if (!status.applied) return this.error(state, status.result, status.reason, pending);
    state.applied += 1;
    const round = (v) => Math.round(v * 1000) / 1000;
    const latency = { receive_to_status: round(now - pending.receivedMs) };
    if (pending.published !== null) {
      latency.command_to_status = round(now - pending.published);
      state.commandMs.push(now - pending.published);
    }
    const applied = {};
    for (const led of status.leds) {
      const blink = led.blink && { on_ms: led.blink[0], off_ms: led.blink[1], fade_ms: led.blink[2], once: led.blink[3] };
      applied[led.led] = { color: [...led.color], blink: blink || null };
    }
    const body = { applied, latency_ms: latency, command: {} };
    if (pending.hubId !== null) {
      body.command.id = pending.hubId;
      body.id = pending.hubId;
    }
    return publish(`earl/${state.name}/led/state`, body, now, true);
  }

  error(state, code, reason, pending) {
    state.errors += 1;
    const body = { error: code, reason, command: pending.data ?? null };
    if (pending.hubId !== null) body.id = pending.hubId;
    return publish(`earl/${state.name}/led/error`, body);
  }

  // -- hub commands -------------------------------------------------------------------

  /** A command from earl/NAME/led: a GATT write, or an error answer. */
  command(name, data, nowMs, published = null) {
    const state = this.device(name);
    state.commands += 1;
    const hubId = isObject(data) && data.id !== undefined ? data.id : null;
    const pending = { hubId, data, receivedMs: nowMs, published };
    let command;
    try {
      command = parseCommand(data, LEDS);
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      pending.hubId = error.commandId;
      return [this.error(state, error.code, error.reason, pending)];
    }
    pending.hubId = command.id;
    if (!state.connected) return [this.error(state, "disconnected", `${name} is not connected`, pending)];
    if (state.info !== null && state.info.kind !== "ball") {
      const reason = `${name} is a ${state.info.kind} device, without an LED module`;
      return [this.error(state, "not_supported", reason, pending)];
    }
    const times = [command.on_ms, command.off_ms, command.fade_ms].map(bleMs);
    if (times.includes(null)) {
      return [this.error(state, "bad_command", `blink times go up to ${profile.MAX_TIME_MS} ms over BLE`, pending)];
    }
    const id = this.allocate(state);
    const color = [...command.color, 0, 0, 0].slice(0, 3);
    const write = {
      action: command.action,
      id,
      led: command.led,
      color,
      on_ms: times[0],
      off_ms: times[1],
      fade_ms: times[2],
      once: command.once,
      strict: command.strict,
    };
    state.pending.set(id, pending);
    return [{ type: "write", device: name, data: profile.encodeLed(write), commandId: id }];
  }

  allocate(state) {
    for (let i = 0; i < 0x10000; i++) {
      const id = this.nextId;
      this.nextId = (this.nextId % 0xffff) + 1; // 1..65535; 0 answers no command
      if (!state.pending.has(id)) return id;
    }
    throw new Error("65535 commands waiting for one device");
  }

  writeFailed(name, commandId, reason) {
    return this.unanswered(name, commandId, "ble", reason);
  }

  /** A command whose status did not come in time. */
  commandTimedOut(name, commandId, waitedMs) {
    return this.unanswered(name, commandId, "timeout", `no status from ${name} within ${waitedMs} ms`);
  }

  unanswered(name, commandId, code, reason) {
    const state = this.device(name);
    const pending = state.pending.get(commandId);
    if (pending === undefined) return [];
    state.pending.delete(commandId);
    return [this.error(state, code, reason, pending)];
  }

  /** Whether command `commandId` of `name` still waits for its status. */
  waiting(name, commandId) {
    return this.device(name).pending.has(commandId);
  }

  // -- statistics ---------------------------------------------------------------------------

  /** Per device counters, as the Python gateway's statistics() (plus `repeats`, `last`). */
  deviceStatistics(name) {
    const s = this.device(name);
    return {
      connected: s.connected,
      kind: s.info ? s.info.kind : null,
      readings: s.readings,
      repeats: s.repeats,
      lost: s.lost,
      gaps: s.gaps,
      bad_notifications: s.badNotifications,
      connects: s.connects,
      drops: s.drops,
      commands: s.commands,
      applied: s.applied,
      errors: s.errors,
      pending: s.pending.size,
      reading_delay_ms: s.delays.summary(),
      command_to_status_ms: s.commandMs.summary(),
      last: s.lastReading,
    };
  }

  statistics() {
    const devices = {};
    for (const name of [...this.devices.keys()].sort()) devices[name] = this.deviceStatistics(name);
    const totals = {};
    for (const key of ["readings", "lost", "gaps", "bad_notifications", "drops", "commands"]) {
      totals[key] = Object.values(devices).reduce((sum, d) => sum + d[key], 0);
    }
    return { devices, ...totals };
  }
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
