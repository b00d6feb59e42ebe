// Types of info.js: the device information characteristic.

import type { Kind } from "./base.js";
import type { Bytes } from "./bytes.js";

export const MAX_UNITS_BYTES: 16;

export interface DeviceInfo {
  kind: Kind;
  /** µs between readings; 0: none (a ball). */
  period_us: number;
  units: string;
}

export interface DecodedInfo extends DeviceInfo {
  rate_hz: number;
}

export function encodeInfo(info: DeviceInfo): Uint8Array;
export function decodeInfo(data: Bytes): DecodedInfo;
