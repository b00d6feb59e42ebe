// Types of index.js: the Earl GATT profile's codecs (docs/earl-ble.md), byte
// for byte as earlgate.ble.profile.

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
export type { Kind } from "./base.js";
export { fromHex, toHex } from "./bytes.js";
export type { Bytes } from "./bytes.js";
export { ACCEL_SCALE, TEMP_SCALE, decodeReading, encodeReading, roundHalfEven } from "./readings.js";
export type { Reading, ReadingInput } from "./readings.js";
export { MAX_UNITS_BYTES, decodeInfo, encodeInfo } from "./info.js";
export type { DecodedInfo, DeviceInfo } from "./info.js";
export { LED_CODES, LEDS, MAX_LEVEL, MAX_TIME_MS, decodeLed, encodeLed } from "./led.js";
export type { Action, Led, LedWrite } from "./led.js";
export { MAX_REASON_BYTES, STATUS_CODES, decodeStatus, encodeStatus } from "./status.js";
export type { DecodedStatus, LedState, Status, StatusResult } from "./status.js";
