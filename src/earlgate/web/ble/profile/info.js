// The info characteristic, as earlgate.ble.profile.info: what a device is. A
// 7-byte header (version, kind, period in µs, units length), then the units
// as UTF-8.

import { ProfileError, VERSION, checkLength, checkVersion, isInt, kindCode, kindOf } from "./base.js";
import { badUtf8, bytesOf, strictUtf8, utf8, view } from "./bytes.js";

export const MAX_UNITS_BYTES = 16;

const INFO_SIZE = 7; // version, kind, period u32 (us), units length

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
