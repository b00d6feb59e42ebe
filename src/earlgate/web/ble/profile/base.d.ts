// Types of base.js: what every characteristic of the Earl profile shares.

export const SERVICE_UUID: "4561726c-0001-4b1e-9a3c-6561726c0000";
export const READINGS_UUID: "4561726c-0002-4b1e-9a3c-6561726c0000";
export const INFO_UUID: "4561726c-0003-4b1e-9a3c-6561726c0000";
export const LED_UUID: "4561726c-0004-4b1e-9a3c-6561726c0000";
export const STATUS_UUID: "4561726c-0005-4b1e-9a3c-6561726c0000";
export const VERSION: 1;
export const KINDS: Readonly<Record<number, Kind>>;
export const KIND_CODES: Readonly<Record<Kind, number>>;

export type Kind = "accel" | "temp" | "ball";

/** Malformed bytes, or a value the layout cannot carry; the message names the field. */
export class ProfileError extends Error {
  constructor(message: string);
}

export function isInt(value: unknown): value is number;
export function checkVersion(bytes: Uint8Array, what: string): void;
export function checkLength(bytes: Uint8Array, what: string, needed: number, detail: string): void;
export function kindOf(code: number, what: string): Kind;
export function kindCode(kind: string, what: string): number;
