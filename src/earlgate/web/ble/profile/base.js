// What every characteristic of the Earl profile shares, as earlgate.ble.profile.base:
// the UUIDs, the version byte, the device kinds, ProfileError and the checks
// each decoder opens with.

export const SERVICE_UUID = "4561726c-0001-4b1e-9a3c-6561726c0000";
export const READINGS_UUID = "4561726c-0002-4b1e-9a3c-6561726c0000";
export const INFO_UUID = "4561726c-0003-4b1e-9a3c-6561726c0000";
export const LED_UUID = "4561726c-0004-4b1e-9a3c-6561726c0000";
export const STATUS_UUID = "4561726c-0005-4b1e-9a3c-6561726c0000";

export const VERSION = 1;

export const KINDS = Object.freeze({ 1: "accel", 2: "temp", 3: "ball" });
export const KIND_CODES = Object.freeze({ accel: 1, temp: 2, ball: 3 });

/** A value that does not follow the Earl profile; the message names the field. */
export class ProfileError extends Error {
  constructor(message) {
    super(message);
    this.name = "ProfileError";
  }
}

export const isInt = (v) => typeof v === "number" && Number.isInteger(v);

/** Refuse an empty value or one of another profile version. */
export function checkVersion(bytes, what) {
  if (!bytes.length) throw new ProfileError(`${what}: empty value, expected at least the version byte`);
  if (bytes[0] !== VERSION)
    throw new ProfileError(`${what}: version ${bytes[0]}, this gateway speaks version ${VERSION}`);
}

/** Refuse a value shorter than `needed` bytes; `detail` says what needs them. */
export function checkLength(bytes, what, needed, detail) {
  if (bytes.length < needed) throw new ProfileError(`${what}: ${bytes.length} bytes, ${detail} needs ${needed}`);
}

/** The kind a code on the wire stands for. */
export function kindOf(code, what) {
  const kind = KINDS[code];
  if (kind === undefined) throw new ProfileError(`${what}: unknown device kind ${code}`);
  return kind;
}

/** The wire code of a kind's name. */
export function kindCode(kind, what) {
  const code = Object.hasOwn(KIND_CODES, kind) ? KIND_CODES[kind] : undefined;
  if (code === undefined)
    throw new ProfileError(`${what}: unknown device kind ${JSON.stringify(kind)}; known: accel, temp, ball`);
  return code;
}
