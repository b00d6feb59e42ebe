// The gateway page's URL parameters (docs/gateway.md, "The gateway as a web page"):
// the flags of `earlgate gateway`, as /gateway?id=gw&routes=...&hub=...
// Every wrong value is a ParamError naming the parameter; so is a parameter
// the page does not know (a typo would otherwise be ignored). Pure.

/** A URL parameter is wrong; the message names it. */
export class ParamError extends Error {
  constructor(message) {
    super(message);
    this.name = "ParamError";
  }
}

export const SERIALIZATIONS = ["binary", "json", "raw"];
// The signaling server's own defaults (earlgate signal, PeerServer).
const DEFAULT_KEY = "peerjs";
// PEERJS.md, client-side id rule: letters, digits, single "-", "_" or " " between them.
export const PEER_ID = /^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$/;
// PeerJS keeps its own buffer once a channel holds 8 MiB (DataConnection.MAX_BUFFERED_AMOUNT),
// and its bufferSize counts messages, not bytes: the high-water mark stays below it.
export const MAX_HIGH_WATER = 8 * 1024 * 1024;

export const DEFAULTS = Object.freeze({
  muxWindow: 0.25, // s: one message period in the thesis
  muxMaxBytes: 15_000, // aggregates stay under json's 16,300-byte message limit
  muxMaxParts: 1000,
  queueLimit: 1000, // messages per destination
  highWater: 256 * 1024, // bytes buffered in a channel
  serialization: "binary",
  connectTimeout: 15, // s
});

/** The parameters /gateway reads. */
export const GATEWAY_PARAMS = [
  "id",
  "routes",
  "hub",
  "hub-token",
  "signal",
  "key",
  "ice",
  "relay-only",
  "mux-window",
  "mux-max-bytes",
  "mux-max-parts",
  "queue-limit",
  "high-water",
  "connect-timeout",
  "dial",
  "serialization",
];

/** Refuse parameters not in `known`, naming them and what is known. */
export function checkKnown(params, known) {
  const unknown = [...new Set(params.keys())].filter((name) => !known.includes(name));
  if (unknown.length) {
    throw new ParamError(`unknown parameter(s) ${unknown.join(", ")}; expected ${known.join(", ")}`);
  }
}

/** A number parameter, or `fallback` when absent; ParamError unless in range. */
export function number(params, name, fallback, { integer = false, min = 0, exclusive = true, max = Infinity } = {}) {
  const text = params.get(name);
  if (text === null || text === "") return fallback;
  const value = Number(text);
  const ok =
    Number.isFinite(value) &&
    (exclusive ? value > min : value >= min) &&
    value <= max &&
    (!integer || Number.isInteger(value));
  if (!ok) {
    const what = integer ? "a whole number" : "a number";
    const upper = max < Infinity ? ` and <= ${max}` : "";
    throw new ParamError(`${name}=${text}: expected ${what} ${exclusive ? ">" : ">="} ${min}${upper}`);
  }
  return value;
}

/** A 1/0 parameter, or `fallback` when absent. */
export function flag(params, name, fallback) {
  const text = params.get(name);
  if (text === null || text === "") return fallback;
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw new ParamError(`${name}=${text}: expected 1 or 0`);
}

/** The signaling server as PeerJS wants it, from `signal=` (http(s)/ws(s) URL) or the page's origin. */
export function signalServer(text, origin) {
  const given = text !== null && text !== undefined && text !== "";
  let url;
  try {
    url = new URL(given ? text : origin);
  } catch {
    throw new ParamError(`signal=${text}: not a URL (expected http://host:port/path)`);
  }
  if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) {
    throw new ParamError(`signal=${text}: expected http://, https://, ws:// or wss://`);
  }
  const secure = url.protocol === "https:" || url.protocol === "wss:";
  let path = given ? url.pathname || "/" : "/";
  // The socket lives at PATH/peerjs; PeerJS wants PATH.
  if (url.protocol.startsWith("ws")) path = path.replace(/\/+$/, "").replace(/\/peerjs$/, "") || "/";
  if (!path.endsWith("/")) path += "/";
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  return { host: url.hostname, port, path, secure };
}

/** `ice=`: a JSON list of RTCIceServer ({"urls", "username"?, "credential"?}). */
export function iceServers(params) {
  const text = params.get("ice");
  if (text === null || text === "") return [];
  let list;
  try {
    list = JSON.parse(text);
  } catch (error) {
    throw new ParamError(`ice: not JSON (${error.message}); expected a list of RTCIceServer`);
  }
  if (!Array.isArray(list)) throw new ParamError("ice: expected a JSON list of RTCIceServer");
  list.forEach((server, index) => {
    const shape = `ice[${index}]: expected {"urls": "turn:host:port", "username"?, "credential"?}`;
    if (typeof server !== "object" || server === null || Array.isArray(server)) throw new ParamError(shape);
    const urls = server.urls;
    const ok = typeof urls === "string" || (Array.isArray(urls) && urls.length && urls.every((u) => typeof u === "string"));
    if (!ok) throw new ParamError(shape);
    for (const key of ["username", "credential"]) {
      if (server[key] !== undefined && typeof server[key] !== "string") {
        throw new ParamError(`ice[${index}].${key}: expected a string`);
      }
    }
    const extra = Object.keys(server).filter((key) => !["urls", "username", "credential"].includes(key));
    if (extra.length) throw new ParamError(`ice[${index}]: unknown key(s) ${extra.join(", ")}`);
  });
  return list;
}

function wsUrl(params, name) {
  const text = params.get(name) || null;
  if (text === null) return null;
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new ParamError(`${name}=${text}: not a URL (expected ws://host:port/ws)`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new ParamError(`${name}=${text}: expected ws:// or wss://`);
  return text;
}

/** What every page on the signaling server shares: where it is, its key, ICE. */
export function peeringParams(params, origin) {
  return {
    signal: signalServer(params.get("signal"), origin),
    key: params.get("key") || DEFAULT_KEY,
    ice: iceServers(params),
    relayOnly: flag(params, "relay-only", false),
  };
}

/**
 * The gateway page's options from its query string.
 *
 * @param search location.search (or a URLSearchParams)
 * @param origin location.origin: where the signaling server is unless `signal=` says
 */
export function parseParams(search, origin) {
  const params = search instanceof URLSearchParams ? search : new URLSearchParams(search);
  checkKnown(params, GATEWAY_PARAMS);
  const id = params.get("id");
  if (!id) throw new ParamError("id: missing (the gateway's peer id, e.g. /gateway?id=gw)");
  if (!PEER_ID.test(id)) {
    throw new ParamError(`id=${id}: letters, digits and single "-", "_" or " " between them`);
  }
  const serialization = params.get("serialization") || DEFAULTS.serialization;
  if (!SERIALIZATIONS.includes(serialization)) {
    throw new ParamError(`serialization=${serialization}: expected one of ${SERIALIZATIONS.join(", ")}`);
  }
  const hub = wsUrl(params, "hub");
  const hubToken = params.get("hub-token") || null;
  if (hubToken !== null && hub === null) throw new ParamError("hub-token: given without hub=");
  const routesText = params.get("routes") || null;
  let routes = null;
  if (routesText !== null) {
    try {
      routes = new URL(routesText, origin).href;
    } catch {
      throw new ParamError(`routes=${routesText}: not a URL`);
    }
  }
  return {
    id,
    routes,
    hub,
    hubToken,
    ...peeringParams(params, origin),
    muxWindow: number(params, "mux-window", DEFAULTS.muxWindow),
    muxMaxBytes: number(params, "mux-max-bytes", DEFAULTS.muxMaxBytes, { integer: true }),
    muxMaxParts: number(params, "mux-max-parts", DEFAULTS.muxMaxParts, { integer: true }),
    queueLimit: number(params, "queue-limit", DEFAULTS.queueLimit, { integer: true }),
    highWater: number(params, "high-water", DEFAULTS.highWater, { integer: true, max: MAX_HIGH_WATER }),
    connectTimeout: number(params, "connect-timeout", DEFAULTS.connectTimeout),
    dial: flag(params, "dial", true),
    serialization,
  };
}
