// The Earl GATT profile in the browser: UUIDs and the byte layout of every
// characteristic, byte for byte as earlgate.ble.profile (docs/earl-ble.md).
//
// Pure: Uint8Array in, plain objects out, no Web Bluetooth. Every decoder
// throws ProfileError (and nothing else) for malformed bytes, with the same
// message as the Python decoder, naming the field. Integers are
// little-endian. The shared vectors (tests/ble/vectors/profile.json) keep the
// two codecs in step: Python writes them, both test suites read them.
//
// A reading's device clock is a u64: it comes back as a Number while it is a
// safe integer (285 years of microseconds) and as a BigInt beyond.

export const SERVICE_UUID = "4561726c-0001-4b1e-9a3c-6561726c0000";
export const READINGS_UUID = "4561726c-0002-4b1e-9a3c-6561726c0000";
export const INFO_UUID = "4561726c-0003-4b1e-9a3c-6561726c0000";
export const LED_UUID = "4561726c-0004-4b1e-9a3c-6561726c0000";
export const STATUS_UUID = "4561726c-0005-4b1e-9a3c-6561726c0000";

export const VERSION = 1;

export const KINDS = Object.freeze({ 1: "accel", 2: "temp", 3: "ball" });
export const KIND_CODES = Object.freeze({ accel: 1, temp: 2, ball: 3 });
// accel in mm/s^2 (int16), temperature in 0.01 degC (int16)
export const ACCEL_SCALE = 1000;
export const TEMP_SCALE = 100;

const OPS = { 1: "set", 2: "blink", 3: "off", 4: "up", 5: "down" };
const OP_CODES = { set: 1, blink: 2, off: 3, up: 4, down: 5 };
const OP_SET = 1;
const OP_BLINK = 2;
const OP_OFF = 3;
export const LEDS = Object.freeze({ 0: "lower", 1: "upper", 255: "all" });
export const LED_CODES = Object.freeze({ lower: 0, upper: 1, all: 255 });

const FLAG_APPROXIMATE = 0x01; // strict=false: apply the nearest feasible request
const FLAG_ONCE = 0x02; // blink one period only
const FLAG_DEFAULT_STRICT = 0x04; // neither strict nor approximate: the module's default
const KNOWN_FLAGS = FLAG_APPROXIMATE | FLAG_ONCE | FLAG_DEFAULT_STRICT;

export const STATUS_CODES = Object.freeze({
  0: "applied",
  1: "bad_command",
  2: "refused",
  3: "i2c",
  4: "internal",
  5: "busy",
});
const STATUS_NAMES = Object.fromEntries(Object.entries(STATUS_CODES).map(([c, n]) => [n, Number(c)]));

export const MAX_REASON_BYTES = 200;
export const MAX_UNITS_BYTES = 16;
export const MAX_LEVEL = 15;
export const MAX_TIME_MS = 0xffff;

const HEADER_SIZE = 14; // version, kind, seq u32, device clock u64 (us)
const INFO_SIZE = 7; // version, kind, period u32 (us), units length
const LED_HEADER_SIZE = 6; // version, opcode, id u16, led, flags
const STATUS_HEADER_SIZE = 4; // version, result, id u16
const LED_STATE_SIZE = 5; // led, r, g, b, blinking
const BLINK_STATE_SIZE = 7; // on, off, fade u16, once u8

/** A value that does not follow the Earl profile; the message names the field. */
export class ProfileError extends Error {
  constructor(message) {
    super(message);
    this.name = "ProfileError";
  }
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Uint8Array.from(data);
  throw new ProfileError(`expected bytes (Uint8Array, DataView or ArrayBuffer), got ${typeof data}`);
}

const view = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function checkVersion(bytes, what) {
  if (!bytes.length) throw new ProfileError(`${what}: empty value, expected at least the version byte`);
  if (bytes[0] !== VERSION)
    throw new ProfileError(`${what}: version ${bytes[0]}, this gateway speaks version ${VERSION}`);
}

function checkLength(bytes, what, needed, detail) {
  if (bytes.length < needed) throw new ProfileError(`${what}: ${bytes.length} bytes, ${detail} needs ${needed}`);
}

function kindOf(code, what) {
  const kind = KINDS[code];
  if (kind === undefined) throw new ProfileError(`${what}: unknown device kind ${code}`);
  return kind;
}

function kindCode(kind, what) {
  const code = Object.hasOwn(KIND_CODES, kind) ? KIND_CODES[kind] : undefined;
  if (code === undefined)
    throw new ProfileError(`${what}: unknown device kind ${JSON.stringify(kind)}; known: accel, temp, ball`);
  return code;
}

const isInt = (v) => typeof v === "number" && Number.isInteger(v);

/** Python's round(): to the nearest integer, halves to the even one. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

function scaled(value, scale, name) {
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new ProfileError(`reading: ${name} must be a finite number, got ${String(value)}`);
  const raw = roundHalfEven(value * scale);
  if (raw < -32768 || raw > 32767)
    throw new ProfileError(`reading: ${name} = ${value} is outside ${-32768 / scale}..${32767 / scale}`);
  return raw;
}

function u64(value, what) {
  let big;
  if (typeof value === "bigint") big = value;
  else if (isInt(value) && Number.isSafeInteger(value)) big = BigInt(value);
  else throw new ProfileError(`${what} must be an integer (a Number up to 2^53-1 or a BigInt), got ${String(value)}`);
  if (big < 0n || big > 0xffffffffffffffffn) throw new ProfileError(`${what} ${big} is outside 0..2^64-1`);
  return big;
}

// -- readings -----------------------------------------------------------------

/**
 * The bytes of a reading {kind, seq, clock_us, value}: the 14-byte header,
 * then 6 bytes (accel: value {x, y, z} or [x, y, z]) or 2 bytes (temp: a number).
 */
export function encodeReading(reading) {
  const kind = kindCode(reading.kind, "reading");
  const seq = reading.seq;
  if (!isInt(seq) || seq < 0 || seq > 0xffffffff) throw new ProfileError(`reading: seq ${seq} is outside 0..2^32-1`);
  const clock = u64(reading.clock_us, "reading: clock_us");
  const value = reading.value ?? null;
  let size = HEADER_SIZE;
  let payload = [];
  if (kind === KIND_CODES.accel) {
    const xyz = Array.isArray(value) ? value : value && typeof value === "object" ? [value.x, value.y, value.z] : null;
    if (!xyz || xyz.length !== 3) throw new ProfileError(`reading: accel needs (x, y, z), got ${JSON.stringify(value)}`);
    payload = xyz.map((v, i) => scaled(v, ACCEL_SCALE, "xyz"[i]));
  } else if (kind === KIND_CODES.temp) {
    if (typeof value !== "number") throw new ProfileError(`reading: temp needs one number, got ${JSON.stringify(value)}`);
    payload = [scaled(value, TEMP_SCALE, "temperature")];
  } else if (value !== null) {
    throw new ProfileError(`reading: ball has no value, got ${JSON.stringify(value)}`);
  }
  size += 2 * payload.length;
  const out = new Uint8Array(size);
  const dv = view(out);
  dv.setUint8(0, VERSION);
  dv.setUint8(1, kind);
  dv.setUint32(2, seq, true);
  dv.setBigUint64(6, clock, true);
  payload.forEach((raw, i) => dv.setInt16(HEADER_SIZE + 2 * i, raw, true));
  return out;
}

/** Parse a readings value: {kind, seq, clock_us, value} (accel: [x, y, z] m/s^2, temp: degC, ball: null). */
export function decodeReading(data) {
  const bytes = bytesOf(data);
  checkVersion(bytes, "reading");
  checkLength(bytes, "reading", HEADER_SIZE, "the header (version, kind, seq, clock)");
  const dv = view(bytes);
  const code = bytes[1];
  const seq = dv.getUint32(2, true);
  const big = dv.getBigUint64(6, true);
  const clock = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  const kind = kindOf(code, "reading");
  const size = code === KIND_CODES.accel ? 6 : code === KIND_CODES.temp ? 2 : 0;
  const body = bytes.length - HEADER_SIZE;
  if (body !== size)
    throw new ProfileError(`reading: ${kind} carries ${size} payload bytes after the header, got ${body}`);
  let value = null;
  if (code === KIND_CODES.accel) {
    value = [0, 1, 2].map((i) => dv.getInt16(HEADER_SIZE + 2 * i, true) / ACCEL_SCALE);
  } else if (code === KIND_CODES.temp) {
    value = dv.getInt16(HEADER_SIZE, true) / TEMP_SCALE;
  }
  return { kind, seq, clock_us: clock, value };
}

// -- device information ---------------------------------------------------------

/** The bytes of a device information value {kind, period_us, units}. */
export function encodeInfo(info) {
  const kind = kindCode(info.kind, "info");
  const period = info.period_us;
  if (!isInt(period) || period < 0 || period > 0xffffffff)
    throw new ProfileError(`info: period_us ${period} is outside 0..2^32-1`);
  const units = utf8.encode(info.units ?? "");
  if (units.length > MAX_UNITS_BYTES)
    throw new ProfileError(`info: units ${JSON.stringify(info.units)} is over ${MAX_UNITS_BYTES} UTF-8 bytes`);
  const out = new Uint8Array(INFO_SIZE + units.length);
  const dv = view(out);
  dv.setUint8(0, VERSION);
  dv.setUint8(1, kind);
  dv.setUint32(2, period, true);
  dv.setUint8(6, units.length);
  out.set(units, INFO_SIZE);
  return out;
}

/** Parse a device information value: {kind, period_us, units, rate_hz}. */
export function decodeInfo(data) {
  const bytes = bytesOf(data);
  checkVersion(bytes, "info");
  checkLength(bytes, "info", INFO_SIZE, "the header (version, kind, period, units length)");
  const dv = view(bytes);
  const kind = kindOf(bytes[1], "info");
  const period = dv.getUint32(2, true);
  const length = bytes[6];
  const units = bytes.subarray(INFO_SIZE);
  if (length > MAX_UNITS_BYTES) throw new ProfileError(`info: units length ${length} is over ${MAX_UNITS_BYTES}`);
  if (units.length !== length)
    throw new ProfileError(`info: units length says ${length} bytes, ${units.length} follow`);
  let text;
  try {
    text = strictUtf8.decode(units);
  } catch {
    const [at, why] = badUtf8(units);
    throw new ProfileError(`info: units are not UTF-8 (${why} at byte ${at})`);
  }
  return { kind, period_us: period, units: text, rate_hz: period ? 1e6 / period : 0 };
}

/** [where, why] of the first invalid UTF-8 sequence: Python's UnicodeDecodeError start and reason. */
function badUtf8(bytes) {
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    // Unicode Table 3-7: the lead byte sets the count and the second byte's range
    let count;
    let low = 0x80;
    let high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) count = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      count = 2;
      if (c === 0xe0) low = 0xa0;
      if (c === 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      count = 3;
      if (c === 0xf0) low = 0x90;
      if (c === 0xf4) high = 0x8f;
    } else return [i, "invalid start byte"];
    for (let k = 1; k <= count; k++) {
      const next = bytes[i + k];
      if (next === undefined) return [i, "unexpected end of data"];
      if (k === 1 ? next < low || next > high : (next & 0xc0) !== 0x80) return [i, "invalid continuation byte"];
    }
    i += count + 1;
  }
  return [bytes.length, "valid"];
}

// -- LED commands ------------------------------------------------------------------

/**
 * The bytes of a command {action, id, led, color, on_ms, off_ms, fade_ms,
 * once, strict}: 6-byte header, + 3 colour bytes, + 6 time bytes (blink).
 */
export function encodeLed(command) {
  const op = Object.hasOwn(OP_CODES, command.action) ? OP_CODES[command.action] : undefined;
  if (op === undefined) throw new ProfileError(`led: unknown action ${JSON.stringify(command.action)}`);
  const id = command.id;
  if (!isInt(id) || id < 0 || id > 0xffff) throw new ProfileError(`led: id ${id} is outside 0..65535`);
  const led = Object.hasOwn(LED_CODES, command.led) ? LED_CODES[command.led] : undefined;
  if (led === undefined) throw new ProfileError(`led: unknown LED ${JSON.stringify(command.led)}`);
  if (led === LED_CODES.all && op !== OP_OFF)
    throw new ProfileError(`led: 'all' goes with off only, not ${command.action}`);
  const strict = command.strict ?? null;
  let flags = command.once ? FLAG_ONCE : 0;
  if (strict === null) flags |= FLAG_DEFAULT_STRICT;
  else if (!strict) flags |= FLAG_APPROXIMATE;
  const out = [VERSION, op, id & 0xff, id >> 8, led, flags];
  if (op === OP_SET || op === OP_BLINK) {
    const color = command.color ?? [0, 0, 0];
    if (color.length !== 3 || color.some((c) => !isInt(c) || c < 0 || c > MAX_LEVEL))
      throw new ProfileError(`led: color needs three levels 0-15, got ${JSON.stringify(color)}`);
    out.push(...color);
  }
  if (op === OP_BLINK) {
    for (const name of ["on_ms", "off_ms", "fade_ms"]) {
      const ms = command[name] ?? 0;
      if (!isInt(ms) || ms < 0 || ms > MAX_TIME_MS)
        throw new ProfileError(`led: ${name} ${JSON.stringify(ms)} is not an integer 0..${MAX_TIME_MS}`);
      out.push(ms & 0xff, ms >> 8);
    }
  }
  return Uint8Array.from(out);
}

/** Parse a command write (what a device receives); ProfileError names what is wrong. */
export function decodeLed(data) {
  const bytes = bytesOf(data);
  checkVersion(bytes, "led");
  checkLength(bytes, "led", LED_HEADER_SIZE, "the header (version, opcode, id, led, flags)");
  const dv = view(bytes);
  const op = bytes[1];
  const id = dv.getUint16(2, true);
  const ledCode = bytes[4];
  const flags = bytes[5];
  if (!Object.hasOwn(OPS, op))
    throw new ProfileError(`led: unknown opcode ${op}; known 1-5 (set, blink, off, up, down)`);
  const action = OPS[op];
  if (!Object.hasOwn(LEDS, ledCode))
    throw new ProfileError(`led: unknown LED code ${ledCode}; 0 lower, 1 upper, 255 all (off)`);
  const led = LEDS[ledCode];
  if (led === "all" && op !== OP_OFF) throw new ProfileError(`led: LED 255 (all) goes with off only, not ${action}`);
  if (flags & ~KNOWN_FLAGS)
    throw new ProfileError(`led: unknown flag bits 0x${(flags & ~KNOWN_FLAGS).toString(16).padStart(2, "0")}`);
  if (flags & FLAG_APPROXIMATE && flags & FLAG_DEFAULT_STRICT)
    throw new ProfileError("led: flags say both approximate and the default strictness");
  let size = LED_HEADER_SIZE;
  size += op === OP_SET || op === OP_BLINK ? 3 : 0;
  size += op === OP_BLINK ? 6 : 0;
  if (bytes.length !== size) throw new ProfileError(`led: ${action} is ${size} bytes, got ${bytes.length}`);
  const strict = flags & FLAG_DEFAULT_STRICT ? null : !(flags & FLAG_APPROXIMATE);
  let color = [0, 0, 0];
  let times = [0, 0, 0];
  if (op === OP_SET || op === OP_BLINK) {
    color = Array.from(bytes.subarray(LED_HEADER_SIZE, LED_HEADER_SIZE + 3));
    ["red", "green", "blue"].forEach((name, i) => {
      if (color[i] > MAX_LEVEL) throw new ProfileError(`led: ${name} level ${color[i]} is over ${MAX_LEVEL}`);
    });
  }
  if (op === OP_BLINK) {
    times = [0, 1, 2].map((i) => dv.getUint16(LED_HEADER_SIZE + 3 + 2 * i, true));
  } else if (flags & FLAG_ONCE) {
    throw new ProfileError(`led: the once flag goes with blink only, not ${action}`);
  }
  const [on_ms, off_ms, fade_ms] = times;
  return { action, id, led, color, on_ms, off_ms, fade_ms, once: Boolean(flags & FLAG_ONCE), strict };
}

// -- status -------------------------------------------------------------------------

/** `text` as UTF-8 of at most `limit` bytes, cut on a character with "…" (Python's _cut_utf8). */
function cutUtf8(text, limit) {
  const raw = utf8.encode(text);
  if (raw.length <= limit) return raw;
  let end = limit - 3;
  while (end > 0 && (raw[end] & 0xc0) === 0x80) end--; // back to the start of the character cut
  const cut = new Uint8Array(end + 3);
  cut.set(raw.subarray(0, end));
  cut.set(utf8.encode("…"), end);
  return cut;
}

/**
 * The bytes of a status {result, id, leds: [{led, color, blink: [on, off,
 * fade, once] | null}], reason}.
 */
export function encodeStatus(status) {
  const result = Object.hasOwn(STATUS_NAMES, status.result) ? STATUS_NAMES[status.result] : undefined;
  if (result === undefined) throw new ProfileError(`status: unknown result ${JSON.stringify(status.result)}`);
  const id = status.id;
  if (!isInt(id) || id < 0 || id > 0xffff) throw new ProfileError(`status: id ${id} is outside 0..65535`);
  const out = [VERSION, result, id & 0xff, id >> 8];
  if (result !== 0) {
    const reason = cutUtf8(status.reason ?? "", MAX_REASON_BYTES);
    return Uint8Array.from([...out, reason.length, ...reason]);
  }
  const leds = status.leds ?? [];
  if (leds.length > 2) throw new ProfileError(`status: at most 2 LEDs, got ${leds.length}`);
  out.push(leds.length);
  for (const state of leds) {
    const code = Object.hasOwn(LED_CODES, state.led) ? LED_CODES[state.led] : undefined;
    if (code === undefined || code === LED_CODES.all)
      throw new ProfileError(`status: unknown LED ${JSON.stringify(state.led)}`);
    const color = state.color ?? [];
    if (color.length !== 3 || color.some((c) => !isInt(c) || c < 0 || c > MAX_LEVEL))
      throw new ProfileError(`status: color needs three levels 0-15, got ${JSON.stringify(color)}`);
    const blink = state.blink ?? null;
    out.push(code, ...color, blink !== null ? 1 : 0);
    if (blink !== null) {
      const [on, off, fade, once] = blink;
      if ([on, off, fade].some((t) => !isInt(t) || t < 0 || t > MAX_TIME_MS))
        throw new ProfileError(`status: blink times ${JSON.stringify(blink)} outside 0..65535`);
      out.push(on & 0xff, on >> 8, off & 0xff, off >> 8, fade & 0xff, fade >> 8, once ? 1 : 0);
    }
  }
  return Uint8Array.from(out);
}

/** Parse a status value: {result, id, leds, reason, applied}. */
export function decodeStatus(data) {
  const bytes = bytesOf(data);
  checkVersion(bytes, "status");
  checkLength(bytes, "status", STATUS_HEADER_SIZE + 1, "the header (version, result, id, count)");
  const dv = view(bytes);
  const code = bytes[1];
  const id = dv.getUint16(2, true);
  if (!Object.hasOwn(STATUS_CODES, code)) throw new ProfileError(`status: unknown result code ${code}`);
  const result = STATUS_CODES[code];
  const count = bytes[STATUS_HEADER_SIZE];
  let pos = STATUS_HEADER_SIZE + 1;
  if (code !== 0) {
    const reason = bytes.subarray(pos);
    if (reason.length !== count)
      throw new ProfileError(`status: reason length says ${count} bytes, ${reason.length} follow`);
    let text;
    try {
      text = strictUtf8.decode(reason);
    } catch {
      throw new ProfileError(`status: reason is not UTF-8 (byte ${badUtf8(reason)[0]})`);
    }
    return { result, id, leds: [], reason: text, applied: false };
  }
  if (count > 2) throw new ProfileError(`status: ${count} LEDs, the ball-probe has 2`);
  const leds = [];
  for (let i = 0; i < count; i++) {
    checkLength(bytes, "status", pos + LED_STATE_SIZE, `LED ${i}`);
    const [led, r, g, b, blinking] = bytes.subarray(pos, pos + LED_STATE_SIZE);
    pos += LED_STATE_SIZE;
    if (led !== 0 && led !== 1) throw new ProfileError(`status: LED ${i} has unknown code ${led}`);
    for (const level of [r, g, b]) {
      if (level > MAX_LEVEL) throw new ProfileError(`status: LED ${i} level ${level} is over ${MAX_LEVEL}`);
    }
    let blink = null;
    if (blinking > 1) throw new ProfileError(`status: LED ${i} blinking flag ${blinking}, expected 0 or 1`);
    if (blinking) {
      checkLength(bytes, "status", pos + BLINK_STATE_SIZE, `LED ${i}'s blink times`);
      const on = dv.getUint16(pos, true);
      const off = dv.getUint16(pos + 2, true);
      const fade = dv.getUint16(pos + 4, true);
      const once = bytes[pos + 6];
      pos += BLINK_STATE_SIZE;
      if (once > 1) throw new ProfileError(`status: LED ${i} once flag ${once}, expected 0 or 1`);
      blink = [on, off, fade, Boolean(once)];
    }
    leds.push({ led: LEDS[led], color: [r, g, b], blink });
  }
  if (pos !== bytes.length) throw new ProfileError(`status: ${bytes.length - pos} bytes after the last LED`);
  return { result, id, leds, reason: "", applied: true };
}

/** Bytes as lowercase hex, for logs and the link's bad_notification events. */
export function toHex(data) {
  return Array.from(bytesOf(data), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex text to bytes (the vectors' and tests' notation). */
export function fromHex(text) {
  if (text.length % 2 || /[^0-9a-f]/i.test(text)) throw new ProfileError(`not hex: ${JSON.stringify(text)}`);
  return Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
}
