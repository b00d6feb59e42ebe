// Types of readings.js: the readings characteristic.

import type { Kind } from "./base.js";
import type { Bytes } from "./bytes.js";

export const ACCEL_SCALE: 1000;
export const TEMP_SCALE: 100;

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

export function encodeReading(reading: ReadingInput): Uint8Array;
export function decodeReading(data: Bytes): Reading;
/** Python's round(): to the nearest integer, halves to the even one. */
export function roundHalfEven(x: number): number;
