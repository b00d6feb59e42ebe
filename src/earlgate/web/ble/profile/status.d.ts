// Types of status.js: the status characteristic.

import type { Bytes } from "./bytes.js";

export const STATUS_CODES: Readonly<Record<number, StatusResult>>;
export const MAX_REASON_BYTES: 200;

export type StatusResult = "applied" | "bad_command" | "refused" | "i2c" | "internal" | "busy";

export interface LedState {
  led: "lower" | "upper";
  color: [number, number, number];
  /** [on, off, fade ms, once], or null when steady. */
  blink: [number, number, number, boolean] | null;
}

export interface Status {
  result: StatusResult;
  id: number;
  leds?: LedState[];
  reason?: string;
}

export interface DecodedStatus extends Required<Status> {
  applied: boolean;
}

export function encodeStatus(status: Status): Uint8Array;
export function decodeStatus(data: Bytes): DecodedStatus;
