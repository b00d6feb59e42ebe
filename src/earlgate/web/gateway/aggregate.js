// The multiplexed ("aggregate") message, format version 1, and the pure
// Multiplexer and Demultiplexer that make and split it: the same as
// earlgate.gateway.aggregate and earlgate.gateway.mux (docs/gateway.md).
//
//   {"mux": 1, "parts": [{"src": "arm-3", "seq": 41, "ts": 1764000000123.5,
//                         "data": <any>, "dst": "arm-7"}, ...]}
//
// src: the peer or device it came from; seq: that source's sequence number
// (0, 1, 2, ...); ts: the sender's timestamp, ms since the Unix epoch; data:
// the payload as the source sent it; dst (optional): where a demultiplexer
// sends the part. Clocks are injected, so windows are tested without timers.

export const VERSION = 1;
// Per-part overhead of the envelope (src, seq, ts keys), for the byte bound.
export const PART_OVERHEAD = 64;

/** A message claims to be an aggregate but is malformed; the text says where. */
export class AggregateError extends Error {
  constructor(message) {
    super(message);
    this.name = "AggregateError";
  }
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer);
}

/** The aggregate message carrying `parts` in order. */
export function encode(parts) {
  return {
    mux: VERSION,
    parts: parts.map((p) => {
      const part = { src: p.src, seq: p.seq, ts: p.ts, data: p.data };
      if (p.dst !== undefined && p.dst !== null) part.dst = p.dst;
      return part;
    }),
  };
}

/** Whether `message` says it is an aggregate (it may still be malformed). */
export function isAggregate(message) {
  return isObject(message) && Object.hasOwn(message, "mux") && Object.hasOwn(message, "parts");
}

function typeName(value) {
  if (value === null || value === undefined) return "NoneType";
  if (Array.isArray(value)) return "list";
  return { string: "str", number: Number.isInteger(value) ? "int" : "float", boolean: "bool" }[typeof value] ?? typeof value;
}

function reprValue(value) {
  if (value === undefined || value === null) return "None";
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "boolean") return value ? "True" : "False";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** The parts of an aggregate, checked; AggregateError names the first fault. */
export function decode(message) {
  if (!isObject(message)) throw new AggregateError(`aggregate: expected an object, got ${typeName(message)}`);
  const version = message.mux;
  if (version !== VERSION) throw new AggregateError(`aggregate: unsupported format version mux=${reprValue(version)}`);
  const parts = message.parts;
  if (!Array.isArray(parts)) throw new AggregateError("aggregate: 'parts' must be a list");
  return parts.map(checkPart);
}

function checkPart(raw, index) {
  const where = `aggregate: parts[${index}]`;
  if (!isObject(raw)) throw new AggregateError(`${where}: expected an object`);
  const { src, seq, ts, dst } = raw;
  if (typeof src !== "string" || !src) throw new AggregateError(`${where}.src: expected a non-empty string`);
  if (!Number.isSafeInteger(seq) || seq < 0) throw new AggregateError(`${where}.seq: expected a non-negative integer`);
  if (typeof ts !== "number" || !Number.isFinite(ts)) {
    throw new AggregateError(`${where}.ts: expected a timestamp in milliseconds`);
  }
  if (!Object.hasOwn(raw, "data")) throw new AggregateError(`${where}.data: missing`);
  if (dst !== undefined && dst !== null && (typeof dst !== "string" || !dst)) {
    throw new AggregateError(`${where}.dst: expected a non-empty string`);
  }
  return { src, seq, ts, data: raw.data, dst: dst ?? null };
}

const utf8 = new TextEncoder();

/**
 * A message's size for the mux's byte bound: bytes for binary, else its JSON
 * in UTF-8. Throws TypeError for what JSON cannot carry (a BigInt, a cycle).
 */
export function sizeOf(value) {
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`cannot serialize a ${typeof value}`);
  return utf8.encode(text).length;
}

/**
 * Collects parts from many sources into one aggregate per window; a window
 * also closes early at `maxParts` parts or `maxBytes`, so memory stays bounded
 * whatever the senders do. The caller calls add() per message and poll() at
 * deadline() (a timer: a late one, in a throttled tab, only closes it late).
 */
export class Multiplexer {
  constructor({
    window = 0.25,
    maxParts = 1000,
    maxBytes = 256 * 1024,
    clock = () => performance.now() / 1000,
    timer = () => performance.now() / 1000,
    nowMs = () => Date.now(),
  } = {}) {
    if (!(window > 0)) throw new RangeError("mux window must be > 0 seconds");
    if (!(maxParts >= 1) || !(maxBytes >= 1)) throw new RangeError("mux max_parts and max_bytes must be >= 1");
    Object.assign(this, { window, maxParts, maxBytes, clock, timer, nowMs });
    this.parts = [];
    this.bytes = 0;
    this.opened = null;
    this.seq = new Map(); // per source: the next sequence number
  }

  /** Take one message; returns a batch when this message filled the window. */
  add(src, data, { ts = null, dst = null, size = null } = {}) {
    const seq = this.seq.get(src) ?? 0;
    this.seq.set(src, seq + 1);
    if (size === null) size = sizeOf(data);
    const part = { src, seq, ts: ts ?? this.nowMs(), data, dst };
    if (this.parts.length && this.bytes + size > this.maxBytes) {
      const full = this.#flush();
      this.opened = this.clock();
      this.#append(part, size);
      return full;
    }
    if (!this.parts.length) this.opened = this.clock();
    this.#append(part, size);
    if (this.parts.length >= this.maxParts || this.bytes >= this.maxBytes) return this.#flush();
    return null;
  }

  /** Clock time (s) at which the open window closes (null: nothing buffered). */
  deadline() {
    return this.opened === null ? null : this.opened + this.window;
  }

  /** The window's aggregate if its time has come. */
  poll() {
    const due = this.deadline();
    if (due === null || this.clock() < due) return null;
    return this.#flush();
  }

  /** Whatever is buffered, now (on close). */
  flush() {
    return this.parts.length ? this.#flush() : null;
  }

  get buffered() {
    return this.parts.length;
  }

  #append(part, size) {
    this.parts.push(part);
    this.bytes += size;
  }

  #flush() {
    const started = this.timer();
    const parts = this.parts;
    const opened = this.opened;
    this.parts = [];
    this.bytes = 0;
    this.opened = null;
    const message = encode(parts);
    const heldS = opened !== null ? this.clock() - opened : 0;
    return { message, parts: parts.length, heldS, buildS: this.timer() - started };
  }
}

/** Splits aggregates into parts, dropping repeats and counting gaps per source. */
export class Demultiplexer {
  constructor({ timer = () => performance.now() / 1000 } = {}) {
    this.timer = timer;
    this.sources = new Map(); // src -> {received, lost, duplicates, nextSeq}
    this.lastSplitS = 0;
  }

  /** The new parts of `message` in order (throws AggregateError if malformed). */
  split(message) {
    const started = this.timer();
    const fresh = [];
    for (const part of decode(message)) {
      let counters = this.sources.get(part.src);
      if (!counters) {
        // A source first seen mid-stream (we joined late) starts where it is.
        counters = { received: 0, lost: 0, duplicates: 0, nextSeq: part.seq };
        this.sources.set(part.src, counters);
      }
      if (part.seq < counters.nextSeq) {
        counters.duplicates += 1;
        continue;
      }
      counters.lost += part.seq - counters.nextSeq;
      counters.nextSeq = part.seq + 1;
      counters.received += 1;
      fresh.push(part);
    }
    this.lastSplitS = this.timer() - started;
    return fresh;
  }

  /** Lost and duplicate parts, all sources together. */
  totals() {
    let lost = 0;
    let duplicates = 0;
    for (const c of this.sources.values()) {
      lost += c.lost;
      duplicates += c.duplicates;
    }
    return { lost, duplicates };
  }
}
