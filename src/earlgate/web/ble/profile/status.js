// The status characteristic, as earlgate.ble.profile.status: the answer to one
// LED command. A 4-byte header (version, result, id) and a count byte; then,
// when applied, each LED the command touched (with its blink times if it
// blinks), else the reason as UTF-8.

import { ProfileError, VERSION, checkLength, checkVersion, isInt } from "./base.js";
import { badUtf8, bytesOf, strictUtf8, utf8, view } from "./bytes.js";
import { LED_CODES, LEDS, MAX_LEVEL, MAX_TIME_MS } from "./led.js";

export const STATUS_CODES = Object.freeze({
  0: "applied",
  1: "bad_command",
  2: "refused",
  3: "i2c",
  4: "internal",
  5: "busy",
});
const STATUS_NAMES = Object.fromEntries(Object.entries(STATUS_CODES).map(([c, n]) => [n, Number(c)]));

export const MAX_REASON_BYTES = 200;

const STATUS_HEADER_SIZE = 4; // version, result, id u16
const LED_STATE_SIZE = 5; // led, r, g, b, blinking
const BLINK_STATE_SIZE = 7; // on, off, fade u16, once u8

/** `text` as UTF-8 of at most `limit` bytes, cut on a character with "…" (Python's _cut_utf8). */
function cutUtf8(text, limit) {
  const raw = utf8.encode(text);
  if (raw.length <= limit) return raw;
  let end = limit - 3;
  while (end > 0 && (raw[end] & 0xc0) === 0x80) end--; // back to the start of the character cut
  const cut = new Uint8Array(end + 3);
  cut.set(raw.subarray(0, end));
  cut.set(utf8.encode("…"), end);
  return cut;
}

/**
 * The bytes of a status {result, id, leds: [{led, color, blink: [on, off,
 * fade, once] | null}], reason}.
 */
export function encodeStatus(status) {
  const result = Object.hasOwn(STATUS_NAMES, status.result) ? STATUS_NAMES[status.result] : undefined;
  if (result === undefined) throw new ProfileError(`status: unknown result ${JSON.stringify(status.result)}`);
  const id = status.id;
  if (!isInt(id) || id < 0 || id > 0xffff) throw new ProfileError(`status: id ${id} is outside 0..65535`);
  const out = [VERSION, result, id & 0xff, id >> 8];
  if (result !== 0) {
    const reason = cutUtf8(status.reason ?? "", MAX_REASON_BYTES);
    return Uint8Array.from([...out, reason.length, ...reason]);
  }
  const leds = status.leds ?? [];
  if (leds.length > 2) throw new ProfileError(`status: at most 2 LEDs, got ${leds.length}`);
  out.push(leds.length);
  for (const state of leds) {
    const code = Object.hasOwn(LED_CODES, state.led) ? LED_CODES[state.led] : undefined;
    if (code === undefined || code === LED_CODES.all)
      throw new ProfileError(`status: unknown LED ${JSON.stringify(state.led)}`);
    const color = state.color ?? [];
    if (color.length !== 3 || color.some((c) => !isInt(c) || c < 0 || c > MAX_LEVEL))
      throw new ProfileError(`status: color needs three levels 0-15, got ${JSON.stringify(color)}`);
    const blink = state.blink ?? null;
    out.push(code, ...color, blink !== null ? 1 : 0);
    if (blink !== null) {
      const [on, off, fade, once] = blink;
      if ([on, off, fade].some((t) => !isInt(t) || t < 0 || t > MAX_TIME_MS))
        throw new ProfileError(`status: blink times ${JSON.stringify(blink)} outside 0..65535`);
      out.push(on & 0xff, on >> 8, off & 0xff, off >> 8, fade & 0xff, fade >> 8, once ? 1 : 0);
    }
  }
  return Uint8Array.from(out);
}

/** Parse a status value: {result, id, leds, reason, applied}. */
export function decodeStatus(data) {
  const bytes = bytesOf(data);
  checkVersion(bytes, "status");
  checkLength(bytes, "status", STATUS_HEADER_SIZE + 1, "the header (version, result, id, count)");
  const dv = view(bytes);
  const code = bytes[1];
  const id = dv.getUint16(2, true);
  if (!Object.hasOwn(STATUS_CODES, code)) throw new ProfileError(`status: unknown result code ${code}`);
  const result = STATUS_CODES[code];
  const count = bytes[STATUS_HEADER_SIZE];
  let pos = STATUS_HEADER_SIZE + 1;
  if (code !== 0) {
    const reason = bytes.subarray(pos);
    if (reason.length !== count)
      throw new ProfileError(`status: reason length says ${count} bytes, ${reason.length} follow`);
    let text;
    try {
      text = strictUtf8.decode(reason);
    } catch {
      throw new ProfileError(`status: reason is not UTF-8 (byte ${badUtf8(reason)[0]})`);
    }
    return { result, id, leds: [], reason: text, applied: false };
  }
  if (count > 2) throw new ProfileError(`status: ${count} LEDs, the ball-probe has 2`);
  const leds = [];
  for (let i = 0; i < count; i++) {
    checkLength(bytes, "status", pos + LED_STATE_SIZE, `LED ${i}`);
    const [led, r, g, b, blinking] = bytes.subarray(pos, pos + LED_STATE_SIZE);
    pos += LED_STATE_SIZE;
    if (led !== 0 && led !== 1) throw new ProfileError(`status: LED ${i} has unknown code ${led}`);
    for (const level of [r, g, b]) {
      if (level > MAX_LEVEL) throw new ProfileError(`status: LED ${i} level ${level} is over ${MAX_LEVEL}`);
    }
    let blink = null;
    if (blinking > 1) throw new ProfileError(`status: LED ${i} blinking flag ${blinking}, expected 0 or 1`);
    if (blinking) {
      checkLength(bytes, "status", pos + BLINK_STATE_SIZE, `LED ${i}'s blink times`);
      const on = dv.getUint16(pos, true);
      const off = dv.getUint16(pos + 2, true);
      const fade = dv.getUint16(pos + 4, true);
      const once = bytes[pos + 6];
      pos += BLINK_STATE_SIZE;
      if (once > 1) throw new ProfileError(`status: LED ${i} once flag ${once}, expected 0 or 1`);
      blink = [on, off, fade, Boolean(once)];
    }
    leds.push({ led: LEDS[led], color: [r, g, b], blink });
  }
  if (pos !== bytes.length) throw new ProfileError(`status: ${bytes.length - pos} bytes after the last LED`);
  return { result, id, leds, reason: "", applied: true };
}
