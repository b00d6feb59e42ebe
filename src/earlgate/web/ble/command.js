// The JSON LED commands a hub sends on earl/<device>/led, checked as
// earlgate.led.commands.parse_command checks them (docs/led.md, "Commands").
//
// Exactly one action per command: {"led", "color"} (set), + "blink"
// {on_ms, off_ms, fade_ms, once} (blink), {"led", "off": true} (off, "all"
// allowed), {"led", "brightness": "up"|"down"}; optional "strict" and "id".
// Unknown keys are refused. A string `data` is read as JSON text (code
// bad_json when it is not). Pure: parseCommand returns a command or throws
// CommandError, whose reason names the field.

export const MAX_DEPTH = 16;
export const MAX_ID_LENGTH = 256;
export const MAX_ID_INTEGER = Number.MAX_SAFE_INTEGER; // 2^53 - 1: comes back exactly in every JSON client
const PREVIEW_CHARS = 60;
const KEYS = ["blink", "brightness", "color", "id", "led", "off", "strict"];
const BLINK_KEYS = ["fade_ms", "off_ms", "on_ms", "once"];
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A malformed command: `code` bad_json or bad_command, `reason` where, `commandId` its valid id. */
export class CommandError extends Error {
  constructor(reason, commandId = null, code = "bad_command") {
    super(reason);
    this.name = "CommandError";
    this.reason = reason;
    this.commandId = commandId;
    this.code = code;
  }
}

function jsonType(value) {
  if (typeof value === "boolean") return "a boolean";
  if (typeof value === "number") return "a number";
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  return `a ${typeof value}`;
}

const clip = (text, limit) => (text.length <= limit ? text : `${text.slice(0, limit - 1)}…`);

/** `value` as short JSON text for a reason (at most 60 characters). */
export function preview(value, limit = PREVIEW_CHARS) {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? jsonType(value) : clip(text, limit);
  } catch {
    return jsonType(value);
  }
}

function names(keys) {
  const ordered = [...keys].sort();
  const shown = ordered.slice(0, 5).map((key) => clip(key, 40));
  const more = ordered.length - shown.length;
  return shown.join(", ") + (more ? ` and ${more} more` : "");
}

const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isNumber = (v) => typeof v === "number";

/** Whether arrays and objects nest more than `limit` levels in `value`. */
export function deeperThan(value, limit) {
  const stack = [[value, 1]];
  while (stack.length) {
    const [item, depth] = stack.pop();
    if (item === null || typeof item !== "object") continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

function checkId(id, maxLength) {
  if (id === undefined || id === null) return null;
  if (typeof id === "string") {
    const length = [...id].length;
    if (length > maxLength) throw new CommandError(`id must be at most ${maxLength} characters, got ${length}`);
    if (LONE_SURROGATE.test(id)) throw new CommandError("id must be valid Unicode text, got a lone surrogate");
    return id;
  }
  if (!isNumber(id)) throw new CommandError(`id must be a string or a number, got ${jsonType(id)}`);
  if (!Number.isFinite(id)) throw new CommandError(`id must be a finite number, got ${id}`);
  if (Number.isInteger(id) && Math.abs(id) > MAX_ID_INTEGER)
    throw new CommandError("an integer id must be between -(2^53-1) and 2^53-1 to come back exactly");
  return id;
}

function ms(blink, key, fallback = null) {
  if (!Object.hasOwn(blink, key)) {
    if (fallback === null) throw new CommandError(`blink.${key} is required`);
    return fallback;
  }
  const value = blink[key];
  if (isNumber(value) && value >= 0 && Number.isFinite(value)) return value;
  throw new CommandError(`blink.${key} must be a number of ms >= 0, finite, got ${preview(value)}`);
}

/**
 * Check one command (the publish frame's `data`) for a module whose LEDs are
 * `leds`. Returns {action, led, color, on_ms, off_ms, fade_ms, once, strict, id}.
 */
export function parseCommand(data, leds = ["lower", "upper"], { maxDepth = MAX_DEPTH, maxIdLength = MAX_ID_LENGTH } = {}) {
  const tooDeep = `data nests arrays and objects more than ${maxDepth} levels deep`;
  if (typeof data === "string") {
    try {
      data = JSON.parse(data);
    } catch (error) {
      throw new CommandError(`data is a string but not JSON: ${error.message}`, null, "bad_json");
    }
  }
  if (data === null || data === undefined)
    throw new CommandError('the publish frame has no data; a command is e.g. {"led": "upper", "color": [15, 0, 0]}');
  if (!isPlainObject(data)) throw new CommandError(`a command is a JSON object, got ${jsonType(data)}`);
  if (deeperThan(data, maxDepth)) throw new CommandError(tooDeep);
  const id = checkId(data.id, maxIdLength);
  try {
    return parse(data, leds, id);
  } catch (error) {
    if (error instanceof CommandError) error.commandId = id;
    throw error;
  }
}

function parse(data, leds, id) {
  const unknown = Object.keys(data).filter((key) => !KEYS.includes(key));
  if (unknown.length) throw new CommandError(`unknown key(s) ${names(unknown)}; allowed: ${KEYS.join(", ")}`);
  const led = data.led;
  if (typeof led !== "string")
    throw new CommandError(`led is required: ${[...leds, "all"].map((n) => `'${n}'`).join(" or ")}`);
  const strict = data.strict ?? null;
  if (strict !== null && typeof strict !== "boolean") throw new CommandError("strict must be true or false");
  const actions = ["color", "off", "brightness"].filter((key) => Object.hasOwn(data, key));
  if (actions.length !== 1) throw new CommandError("give exactly one of color (with or without blink), off, brightness");
  if (Object.hasOwn(data, "blink") && actions[0] !== "color") throw new CommandError("blink needs a color");
  if (!leds.includes(led) && !(led === "all" && actions[0] === "off"))
    throw new CommandError(`unknown led ${clip(JSON.stringify(led), PREVIEW_CHARS)}; this module has ${leds.join(", ")}`);
  const base = { led, color: [], on_ms: 0, off_ms: 0, fade_ms: 0, once: false, strict, id };
  if (actions[0] === "off") {
    if (data.off !== true) throw new CommandError("off must be true");
    return { ...base, action: "off" };
  }
  if (actions[0] === "brightness") {
    const step = data.brightness;
    if (step !== "up" && step !== "down") throw new CommandError("brightness must be 'up' or 'down'");
    return { ...base, action: step };
  }
  const color = data.color;
  if (!Array.isArray(color) || color.length !== 3 || !color.every((v) => Number.isInteger(v) && v >= 0 && v <= 15))
    throw new CommandError(`color must be three integers 0-15, got ${preview(color)}`);
  if (!Object.hasOwn(data, "blink")) return { ...base, action: "set", color: [...color] };
  const blink = data.blink;
  if (!isPlainObject(blink)) throw new CommandError("blink must be an object with on_ms and off_ms");
  const extra = Object.keys(blink).filter((key) => !BLINK_KEYS.includes(key));
  if (extra.length) throw new CommandError(`unknown blink key(s) ${names(extra)}`);
  const once = Object.hasOwn(blink, "once") ? blink.once : false;
  if (typeof once !== "boolean") throw new CommandError("blink.once must be true or false");
  return {
    ...base,
    action: "blink",
    color: [...color],
    on_ms: ms(blink, "on_ms"),
    off_ms: ms(blink, "off_ms"),
    fade_ms: ms(blink, "fade_ms", 0),
    once,
  };
}
