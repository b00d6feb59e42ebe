// Bytes for the profile's codecs: whatever form Web Bluetooth or a test hands
// over, UTF-8 errors reported as Python reports them (so both codecs give the
// same message), and hex for logs and the shared vectors.

import { ProfileError } from "./base.js";

export const utf8 = new TextEncoder();
export const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** `data` (Uint8Array, DataView, ArrayBuffer or an array of numbers) as a Uint8Array. */
export function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Uint8Array.from(data);
  throw new ProfileError(`expected bytes (Uint8Array, DataView or ArrayBuffer), got ${typeof data}`);
}

export const view = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** [where, why] of the first invalid UTF-8 sequence: Python's UnicodeDecodeError start and reason. */
export function badUtf8(bytes) {
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    // Unicode Table 3-7: the lead byte sets the count and the second byte's range
    let count;
    let low = 0x80;
    let high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) count = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      count = 2;
      if (c === 0xe0) low = 0xa0;
      if (c === 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      count = 3;
      if (c === 0xf0) low = 0x90;
      if (c === 0xf4) high = 0x8f;
    } else return [i, "invalid start byte"];
    for (let k = 1; k <= count; k++) {
      const next = bytes[i + k];
      if (next === undefined) return [i, "unexpected end of data"];
      if (k === 1 ? next < low || next > high : (next & 0xc0) !== 0x80) return [i, "invalid continuation byte"];
    }
    i += count + 1;
  }
  return [bytes.length, "valid"];
}

/** Bytes as lowercase hex, for logs and the link's bad_notification events. */
export function toHex(data) {
  return Array.from(bytesOf(data), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex text to bytes (the vectors' and tests' notation). */
export function fromHex(text) {
  if (text.length % 2 || /[^0-9a-f]/i.test(text)) throw new ProfileError(`not hex: ${JSON.stringify(text)}`);
  return Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
}
