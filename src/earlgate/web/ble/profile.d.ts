// Types of profile.js: the Earl GATT profile's codecs (docs/earl-ble.md), byte
// for byte as earlgate.ble.profile.

export const SERVICE_UUID: "4561726c-0001-4b1e-9a3c-6561726c0000";
export const READINGS_UUID: "4561726c-0002-4b1e-9a3c-6561726c0000";
export const INFO_UUID: "4561726c-0003-4b1e-9a3c-6561726c0000";
export const LED_UUID: "4561726c-0004-4b1e-9a3c-6561726c0000";
export const STATUS_UUID: "4561726c-0005-4b1e-9a3c-6561726c0000";
export const VERSION: 1;
export const KINDS: Readonly<Record<number, Kind>>;
export const KIND_CODES: Readonly<Record<Kind, number>>;
export const LEDS: Readonly<Record<number, Led>>;
export const LED_CODES: Readonly<Record<Led, number>>;
export const STATUS_CODES: Readonly<Record<number, StatusResult>>;
export const ACCEL_SCALE: 1000;
export const TEMP_SCALE: 100;
export const MAX_REASON_BYTES: 200;
export const MAX_UNITS_BYTES: 16;
export const MAX_LEVEL: 15;
export const MAX_TIME_MS: 65535;

export type Kind = "accel" | "temp" | "ball";
export type Led = "lower" | "upper" | "all";
export type Action = "set" | "blink" | "off" | "up" | "down";
export type StatusResult = "applied" | "bad_command" | "refused" | "i2c" | "internal" | "busy";
/** Bytes as Web Bluetooth gives them (DataView) or as a test writes them. */
export type Bytes = Uint8Array | DataView | ArrayBuffer | number[];

/** Malformed bytes, or a value the layout cannot carry; the message names the field. */
export class ProfileError extends Error {
  constructor(message: string);
}

export interface Reading {
  kind: Kind;
  /** The device's sample counter, wrapping at 2^32; a gap means lost samples. */
  seq: number;
  /** The device's clock at sampling, µs since it started (a BigInt past 2^53 - 1). */
  clock_us: number | bigint;
  /** accel: [x, y, z] m/s² (0.001 steps), temp: °C (0.01 steps), ball: null. */
  value: [number, number, number] | number | null;
}

export interface ReadingInput extends Omit<Reading, "value"> {
  value: [number, number, number] | { x: number; y: number; z: number } | number | null;
}

export interface DeviceInfo {
  kind: Kind;
  /** µs between readings; 0: none (a ball). */
  period_us: number;
  units: string;
}

export interface DecodedInfo extends DeviceInfo {
  rate_hz: number;
}

export interface LedWrite {
  action: Action;
  /** 0-65535, echoed in the status that answers it. */
  id: number;
  led: Led;
  color?: [number, number, number];
  on_ms?: number;
  off_ms?: number;
  fade_ms?: number;
  once?: boolean;
  /** true refuse, false approximate, null the module's default. */
  strict?: boolean | null;
}

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

export function encodeReading(reading: ReadingInput): Uint8Array;
export function decodeReading(data: Bytes): Reading;
export function encodeInfo(info: DeviceInfo): Uint8Array;
export function decodeInfo(data: Bytes): DecodedInfo;
export function encodeLed(command: LedWrite): Uint8Array;
export function decodeLed(data: Bytes): Required<LedWrite>;
export function encodeStatus(status: Status): Uint8Array;
export function decodeStatus(data: Bytes): DecodedStatus;
/** Python's round(): to the nearest integer, halves to the even one. */
export function roundHalfEven(x: number): number;
export function toHex(data: Bytes): string;
export function fromHex(text: string): Uint8Array;
