// The readings characteristic, as earlgate.ble.profile.readings: a 14-byte
// header (version, kind, seq, device clock in µs), then 6 bytes for an
// accelerometer, 2 for a thermometer, none for a ball.
//
// A reading's device clock is a u64: it comes back as a Number while it is a
// safe integer (285 years of microseconds) and as a BigInt beyond.

import { KIND_CODES, ProfileError, VERSION, checkLength, checkVersion, isInt, kindCode, kindOf } from "./base.js";
import { bytesOf, view } from "./bytes.js";

// accel in mm/s^2 (int16), temperature in 0.01 degC (int16)
export const ACCEL_SCALE = 1000;
export const TEMP_SCALE = 100;

const HEADER_SIZE = 14; // version, kind, seq u32, device clock u64 (us)

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
