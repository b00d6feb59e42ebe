// The Earl GATT profile in the browser: UUIDs and the byte layout of every
// characteristic, byte for byte as earlgate.ble.profile (docs/earl-ble.md),
// one module per characteristic as in the Python package.
//
// Pure: Uint8Array in, plain objects out, no Web Bluetooth. Every decoder
// throws ProfileError (and nothing else) for malformed bytes, with the same
// message as the Python decoder, naming the field. Integers are
// little-endian. The shared vectors (tests/ble/vectors/profile.json) keep the
// two codecs in step: Python writes them, both test suites read them.

export {
  INFO_UUID,
  KIND_CODES,
  KINDS,
  LED_UUID,
  ProfileError,
  READINGS_UUID,
  SERVICE_UUID,
  STATUS_UUID,
  VERSION,
} from "./base.js";
export { fromHex, toHex } from "./bytes.js";
export { ACCEL_SCALE, TEMP_SCALE, decodeReading, encodeReading, roundHalfEven } from "./readings.js";
export { MAX_UNITS_BYTES, decodeInfo, encodeInfo } from "./info.js";
export { LED_CODES, LEDS, MAX_LEVEL, MAX_TIME_MS, decodeLed, encodeLed } from "./led.js";
export { MAX_REASON_BYTES, STATUS_CODES, decodeStatus, encodeStatus } from "./status.js";
