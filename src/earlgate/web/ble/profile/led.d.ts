// Types of led.js: the LED command characteristic.

import type { Bytes } from "./bytes.js";

export const LEDS: Readonly<Record<number, Led>>;
export const LED_CODES: Readonly<Record<Led, number>>;
export const MAX_LEVEL: 15;
export const MAX_TIME_MS: 65535;

export type Led = "lower" | "upper" | "all";
export type Action = "set" | "blink" | "off" | "up" | "down";

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

export function encodeLed(command: LedWrite): Uint8Array;
export function decodeLed(data: Bytes): Required<LedWrite>;
