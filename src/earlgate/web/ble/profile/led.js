// The led characteristic, as earlgate.ble.profile.led: one LED-module command
// per write. A 6-byte header (version, opcode, id, LED, flags), then 3 colour
// levels (set, blink) and 6 bytes of times (blink).

import { ProfileError, VERSION, checkLength, checkVersion, isInt } from "./base.js";
import { bytesOf, view } from "./bytes.js";

const OPS = { 1: "set", 2: "blink", 3: "off", 4: "up", 5: "down" };
const OP_CODES = { set: 1, blink: 2, off: 3, up: 4, down: 5 };
const OP_SET = 1;
const OP_BLINK = 2;
const OP_OFF = 3;
export const LEDS = Object.freeze({ 0: "lower", 1: "upper", 255: "all" });
export const LED_CODES = Object.freeze({ lower: 0, upper: 1, all: 255 });

const FLAG_APPROXIMATE = 0x01; // strict=false: apply the nearest feasible request
const FLAG_ONCE = 0x02; // blink one period only
const FLAG_DEFAULT_STRICT = 0x04; // neither strict nor approximate: the module's default
const KNOWN_FLAGS = FLAG_APPROXIMATE | FLAG_ONCE | FLAG_DEFAULT_STRICT;

export const MAX_LEVEL = 15;
export const MAX_TIME_MS = 0xffff;

const LED_HEADER_SIZE = 6; // version, opcode, id u16, led, flags

/**
 * The bytes of a command {action, id, led, color, on_ms, off_ms, fade_ms,
 * once, strict}: 6-byte header, + 3 colour bytes, + 6 time bytes (blink).
 */
export function encodeLed(command) {
  const op = Object.hasOwn(OP_CODES, command.action) ? OP_CODES[command.action] : undefined;
  if (op === undefined) throw new ProfileError(`led: unknown action ${JSON.stringify(command.action)}`);
  const id = command.id;
  if (!isInt(id) || id < 0 || id > 0xffff) throw new ProfileError(`led: id ${id} is outside 0..65535`);
  const led = Object.hasOwn(LED_CODES, command.led) ? LED_CODES[command.led] : undefined;
  if (led === undefined) throw new ProfileError(`led: unknown LED ${JSON.stringify(command.led)}`);
  if (led === LED_CODES.all && op !== OP_OFF)
    throw new ProfileError(`led: 'all' goes with off only, not ${command.action}`);
  const strict = command.strict ?? null;
  let flags = command.once ? FLAG_ONCE : 0;
  if (strict === null) flags |= FLAG_DEFAULT_STRICT;
  else if (!strict) flags |= FLAG_APPROXIMATE;
  const out = [VERSION, op, id & 0xff, id >> 8, led, flags];
  if (op === OP_SET || op === OP_BLINK) {
    const color = command.color ?? [0, 0, 0];
    if (color.length !== 3 || color.some((c) => !isInt(c) || c < 0 || c > MAX_LEVEL))
      throw new ProfileError(`led: color needs three levels 0-15, got ${JSON.stringify(color)}`);
    out.push(...color);
  }
  if (op === OP_BLINK) {
    for (const name of ["on_ms", "off_ms", "fade_ms"]) {
      const ms = command[name] ?? 0;
      if (!isInt(ms) || ms < 0 || ms > MAX_TIME_MS)
        throw new ProfileError(`led: ${name} ${JSON.stringify(ms)} is not an integer 0..${MAX_TIME_MS}`);
      out.push(ms & 0xff, ms >> 8);
    }
  }
  return Uint8Array.from(out);
}

/** Parse a command write (what a device receives); ProfileError names what is wrong. */
export function decodeLed(data) {
  const bytes = bytesOf(data);
  checkVersion(bytes, "led");
  checkLength(bytes, "led", LED_HEADER_SIZE, "the header (version, opcode, id, led, flags)");
  const dv = view(bytes);
  const op = bytes[1];
  const id = dv.getUint16(2, true);
  const ledCode = bytes[4];
  const flags = bytes[5];
  if (!Object.hasOwn(OPS, op))
    throw new ProfileError(`led: unknown opcode ${op}; known 1-5 (set, blink, off, up, down)`);
  const action = OPS[op];
  if (!Object.hasOwn(LEDS, ledCode))
    throw new ProfileError(`led: unknown LED code ${ledCode}; 0 lower, 1 upper, 255 all (off)`);
  const led = LEDS[ledCode];
  if (led === "all" && op !== OP_OFF) throw new ProfileError(`led: LED 255 (all) goes with off only, not ${action}`);
  if (flags & ~KNOWN_FLAGS)
    throw new ProfileError(`led: unknown flag bits 0x${(flags & ~KNOWN_FLAGS).toString(16).padStart(2, "0")}`);
  if (flags & FLAG_APPROXIMATE && flags & FLAG_DEFAULT_STRICT)
    throw new ProfileError("led: flags say both approximate and the default strictness");
  let size = LED_HEADER_SIZE;
  size += op === OP_SET || op === OP_BLINK ? 3 : 0;
  size += op === OP_BLINK ? 6 : 0;
  if (bytes.length !== size) throw new ProfileError(`led: ${action} is ${size} bytes, got ${bytes.length}`);
  const strict = flags & FLAG_DEFAULT_STRICT ? null : !(flags & FLAG_APPROXIMATE);
  let color = [0, 0, 0];
  let times = [0, 0, 0];
  if (op === OP_SET || op === OP_BLINK) {
    color = Array.from(bytes.subarray(LED_HEADER_SIZE, LED_HEADER_SIZE + 3));
    ["red", "green", "blue"].forEach((name, i) => {
      if (color[i] > MAX_LEVEL) throw new ProfileError(`led: ${name} level ${color[i]} is over ${MAX_LEVEL}`);
    });
  }
  if (op === OP_BLINK) {
    times = [0, 1, 2].map((i) => dv.getUint16(LED_HEADER_SIZE + 3 + 2 * i, true));
  } else if (flags & FLAG_ONCE) {
    throw new ProfileError(`led: the once flag goes with blink only, not ${action}`);
  }
  const [on_ms, off_ms, fade_ms] = times;
  return { action, id, led, color, on_ms, off_ms, fade_ms, once: Boolean(flags & FLAG_ONCE), strict };
}
