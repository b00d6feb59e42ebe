// The gateway's routes document, in the browser: who forwards, multiplexes,
// demultiplexes and bridges to what. The same document and the same checks as
// earlgate.gateway.routes (earlgate gateway --routes FILE, docs/gateway.md):
//
//   [[forward]]  from = "arm-1"     to = ["arm-2", "arm-3"]
//   [[mux]]      from = "sensor-*"  to = "cloud"   window = 0.25
//   [[demux]]    from = "cloud"     to = []
//   [[bridge]]   peer = "thermo-*"  publish = "sensors/{peer}"  subscribe = "commands/{peer}"
//
// Every mistake is a RoutesError naming the table, its index and the key, with
// the Python loader's words. Pure: text or a parsed object in, Routes out.
import { checkPattern, checkSubject } from "../earlgate.js";
import { parse as parseToml } from "../vendor/smol-toml/index.js";

export const KINDS = ["forward", "mux", "demux", "bridge"];
const GLOB_CHARS = /[*?[]/;
// Characters that would change a subject's levels or make it a wildcard.
const SUBJECT_CHARS = ["#", "+", "/"];
export const PEER = "{peer}";
// Nesting a routes document may have (Python's parser stops at its recursion limit).
export const MAX_DEPTH = 200;

/** The routes document is wrong; the message says where. */
export class RoutesError extends Error {
  constructor(message) {
    super(message);
    this.name = "RoutesError";
  }
}

/** A peer id cannot fill a bridge's template; the message says why. */
export class PeerIdError extends Error {
  constructor(message) {
    super(message);
    this.name = "PeerIdError";
  }
}

/** A string as Python's repr() writes it, so messages read as the Python gateway's. */
export function pyRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += "\\" + quote;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += "\\x" + code.toString(16).padStart(2, "0");
    else out += ch;
  }
  return quote + out + quote;
}

// -- globs: Python's fnmatch.fnmatchcase --------------------------------------------

const globCache = new Map();

/** A glob as a RegExp, translated as Python's fnmatch.translate does. */
export function globRegExp(pattern) {
  let found = globCache.get(pattern);
  if (found) return found;
  let out = "";
  const n = pattern.length;
  let i = 0;
  while (i < n) {
    const c = pattern[i++];
    if (c === "*") {
      out += ".*";
      while (pattern[i] === "*") i++;
    } else if (c === "?") out += ".";
    else if (c === "[") {
      let j = i;
      if (pattern[j] === "!") j++;
      if (pattern[j] === "]") j++;
      while (j < n && pattern[j] !== "]") j++;
      if (j >= n) out += "\\[";
      else {
        let stuff = pattern.slice(i, j).replace(/\\/g, "\\\\");
        i = j + 1;
        if (!stuff) out += "(?!)";
        else if (stuff === "!") out += ".";
        else {
          if (stuff[0] === "!") stuff = "^" + stuff.slice(1);
          else if (stuff[0] === "^" || stuff[0] === "[") stuff = "\\" + stuff;
          out += `[${stuff.replace(/\[/g, "\\[")}]`;
        }
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  try {
    found = new RegExp(`^(?:${out})$`, "su");
  } catch {
    found = /(?!)/; // a range such as [z-a]: Python drops it, so nothing matches it alone
  }
  if (globCache.size < 4096) globCache.set(pattern, found);
  return found;
}

export function fnmatch(name, pattern) {
  return GLOB_CHARS.test(pattern) ? globRegExp(pattern).test(name) : name === pattern;
}

export function isGlob(name) {
  return GLOB_CHARS.test(name);
}

function matchesAny(patterns, peer) {
  return patterns.some((pattern) => fnmatch(peer, pattern));
}

/** `template` with `{peer}` filled, refusing ids that would change its shape. */
export function expand(template, peer, check) {
  if (!template.includes(PEER)) return template;
  const unsafe = SUBJECT_CHARS.filter((c) => peer.includes(c));
  if (unsafe.length) {
    throw new PeerIdError(
      `peer id ${pyRepr(peer)} holds ${unsafe.map(pyRepr).join(" ")},` +
        ` which would change the subject ${pyRepr(template)}`,
    );
  }
  const subject = template.replaceAll(PEER, peer);
  try {
    check(subject);
  } catch (error) {
    throw new PeerIdError(`peer id ${pyRepr(peer)} makes ${pyRepr(template)} invalid: ${error.message}`);
  }
  return subject;
}

// -- the rules ---------------------------------------------------------------------

/** The publish subject and the subscription of bridge `rule` for `peer` (throws PeerIdError). */
export function bridgeSubjects(rule, peer) {
  return [
    rule.publish === null ? null : expand(rule.publish, peer, checkSubject),
    rule.subscribe === null ? null : expand(rule.subscribe, peer, checkPattern),
  ];
}

/** The rules of a routes document, and which of them apply to a peer. */
export class Routes {
  constructor() {
    this.forwards = []; // {name, sources, to}
    this.muxes = []; // {name, sources, to, window}
    this.demuxes = []; // {name, sources, to}
    this.bridges = []; // {name, peers, publish, subscribe}
  }

  /** The rules that apply to `peer` (a message is never forwarded back to it). */
  forSource(peer) {
    const forwards = [];
    const taken = new Set([peer]);
    for (const rule of this.forwards) {
      if (!matchesAny(rule.sources, peer)) continue;
      const targets = [];
      for (const target of rule.to) {
        if (taken.has(target)) continue;
        taken.add(target);
        targets.push(target);
      }
      forwards.push({ rule, targets });
    }
    const muxInto = this.muxes.filter((rule) => matchesAny(rule.sources, peer));
    const demux = this.demuxes.find((rule) => matchesAny(rule.sources, peer)) ?? null;
    let publish = null;
    let publishRoute = null;
    const subscribe = new Map(); // one subscription per subject: the first rule's
    const refused = [];
    for (const bridge of this.bridges) {
      if (!matchesAny(bridge.peers, peer)) continue;
      let subjects;
      try {
        subjects = bridgeSubjects(bridge, peer);
      } catch (error) {
        if (!(error instanceof PeerIdError)) throw error;
        refused.push({ route: bridge.name, peer, reason: error.message });
        continue;
      }
      const [toHub, fromHub] = subjects;
      if (toHub !== null && publish === null) [publish, publishRoute] = [toHub, bridge.name];
      if (fromHub !== null && !subscribe.has(fromHub)) subscribe.set(fromHub, bridge.name);
    }
    return { forwards, muxInto, demux, publish, publishRoute, subscribe: [...subscribe], refused };
  }

  /** The peers the routes name as destinations (not globs): their queues outlive their connections. */
  namedDestinations() {
    const named = new Set();
    for (const rule of this.forwards) for (const t of rule.to) if (!isGlob(t)) named.add(t);
    for (const rule of this.muxes) named.add(rule.to);
    for (const rule of this.demuxes) for (const t of rule.to) named.add(t);
    return named;
  }

  /** How many rules there are, of every kind. */
  get size() {
    return this.forwards.length + this.muxes.length + this.demuxes.length + this.bridges.length;
  }
}

// -- loading -----------------------------------------------------------------------

/** Parse and check the text of a routes document (TOML). */
export function loadsRoutes(text) {
  if (typeof text !== "string") throw new RoutesError("not valid TOML: expected text");
  let data;
  try {
    data = parseToml(text, { maxDepth: MAX_DEPTH });
  } catch (error) {
    const first = String(error?.message ?? error).split("\n")[0].replace(/^Invalid TOML document: /, "");
    if (/excessively nested/.test(first)) throw new RoutesError("not valid TOML: nested too deeply");
    const at = error?.line ? ` (at line ${error.line}, column ${error.column})` : "";
    throw new RoutesError(`not valid TOML: ${first}${at}`);
  }
  return parseRoutes(data);
}

function isTable(value) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

const ALLOWED = {
  forward: ["from", "to"],
  mux: ["from", "to", "window"],
  demux: ["from", "to"],
  bridge: ["peer", "publish", "subscribe"],
};

/** Check a parsed routes document (TOML's, or JSON's: any nesting of plain values). */
export function parseRoutes(data) {
  if (!isTable(data)) throw new RoutesError(`expected a table of ${KINDS.map((k) => `[[${k}]]`).join(", ")}`);
  const unknown = Object.keys(data)
    .filter((key) => !KINDS.includes(key))
    .sort();
  if (unknown.length) throw new RoutesError(`unknown table(s) ${unknown.join(", ")}; expected ${KINDS.join(", ")}`);
  const routes = new Routes();
  for (const kind of KINDS) {
    const tables = Object.hasOwn(data, kind) ? data[kind] : [];
    if (!Array.isArray(tables)) throw new RoutesError(`'${kind}' must be an array of tables ([[${kind}]])`);
    tables.forEach((table, index) => {
      const where = `[[${kind}]] #${index + 1}`;
      if (!isTable(table)) throw new RoutesError(`${where}: expected a table`);
      parseOne(routes, kind, `${kind}#${index + 1}`, table, where);
    });
  }
  return routes;
}

function get(table, key) {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function parseOne(routes, kind, name, table, where) {
  const extra = Object.keys(table)
    .filter((key) => !ALLOWED[kind].includes(key))
    .sort();
  if (extra.length) throw new RoutesError(`${where}: unknown key(s) ${extra.join(", ")}`);
  if (kind === "forward") {
    const to = ids(table, "to", where);
    if (!to.length) throw new RoutesError(`${where}.to: name at least one destination`);
    routes.forwards.push({ name, sources: ids(table, "from", where, true), to });
  } else if (kind === "mux") {
    const target = get(table, "to");
    if (typeof target !== "string" || !target) throw new RoutesError(`${where}.to: expected one peer id`);
    const sources = ids(table, "from", where, true);
    routes.muxes.push({ name, sources, to: target, window: windowOf(get(table, "window"), where) });
  } else if (kind === "demux") {
    const sources = ids(table, "from", where, true);
    routes.demuxes.push({ name, sources, to: ids(table, "to", where) });
  } else {
    const peers = ids(table, "peer", where, true);
    const publish = template(table, "publish", where, checkSubject);
    const subscribe = template(table, "subscribe", where, checkPattern);
    if (publish === null && subscribe === null) {
      throw new RoutesError(`${where}: a bridge needs 'publish', 'subscribe' or both`);
    }
    routes.bridges.push({ name, peers, publish, subscribe });
  }
}

function windowOf(value, where) {
  if (value === undefined || value === null) return null;
  const seconds = typeof value === "bigint" ? Number(value) : value;
  if (typeof seconds === "number" && seconds > 0 && seconds < Infinity) return seconds;
  throw new RoutesError(`${where}.window: expected seconds > 0`);
}

function ids(table, key, where, required = false) {
  const value = get(table, key);
  if (value === undefined || value === null) {
    if (required) throw new RoutesError(`${where}.${key}: missing`);
    return [];
  }
  const values = typeof value === "string" ? [value] : value;
  if (!Array.isArray(values) || !values.every((v) => typeof v === "string" && v)) {
    throw new RoutesError(`${where}.${key}: expected a peer id or a list of peer ids`);
  }
  if (required && !values.length) throw new RoutesError(`${where}.${key}: name at least one peer`);
  return [...values];
}

function template(table, key, where, check) {
  const value = get(table, key);
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new RoutesError(`${where}.${key}: expected a subject`);
  try {
    check(value.replaceAll(PEER, "peer"));
  } catch (error) {
    throw new RoutesError(`${where}.${key}: ${error.message}`);
  }
  return value;
}
