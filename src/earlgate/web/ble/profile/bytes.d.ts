// Types of bytes.js: bytes in any form, UTF-8 errors as Python names them, hex.

/** Bytes as Web Bluetooth gives them (DataView) or as a test writes them. */
export type Bytes = Uint8Array | DataView | ArrayBuffer | number[];

export const utf8: TextEncoder;
export const strictUtf8: TextDecoder;
export function bytesOf(data: Bytes): Uint8Array;
export function view(bytes: Uint8Array): DataView;
/** [where, why] of the first invalid UTF-8 sequence, as Python's UnicodeDecodeError says. */
export function badUtf8(bytes: Uint8Array): [number, string];
export function toHex(data: Bytes): string;
export function fromHex(text: string): Uint8Array;
