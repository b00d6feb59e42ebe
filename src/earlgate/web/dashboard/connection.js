// The one module of the dashboard that talks to the browser client (/earlgate.js).
//
// The hub is the page's own origin: ws://host/ws, or wss:// when the page came
// over https. A token (hub with --auth-secret) lives in sessionStorage for this
// tab only; the client asks for it (getToken) on every (re)connect, and it is
// never put in the page's URL.
import { HubClient, HubError, checkPattern, checkSubject } from "/earlgate.js";

export { HubError };

const TOKEN_KEY = "earlgate.dashboard.token";

export function hubUrl(loc = window.location) {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}

export function getToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) || null;
  } catch {
    return null;
  }
}

export function setToken(token) {
  if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
  else window.sessionStorage.removeItem(TOKEN_KEY);
}

/** The reason ``check`` gives for ``text``, or null when it passes. */
function problem(check, text) {
  try {
    check(text);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export const subjectProblem = (text) => problem(checkSubject, text);
export const patternProblem = (text) => problem(checkPattern, text);

function listen(target, name, handler) {
  if (typeof target.on === "function") target.on(name, handler);
  else target.addEventListener(name, (event) => handler(event.detail ?? event));
}

/**
 * A message as the dashboard uses it, from what the client delivers (the
 * hub's deliver frame: subject, data, published, retain flag, _offset, _epoch).
 */
export function normalise(message) {
  const frame = message;
  return {
    subject: String(frame.subject),
    data: frame.data ?? null,
    retained: Boolean(frame.retain ?? frame.retained),
    published: typeof frame.published === "number" ? frame.published : null,
    offset: typeof frame._offset === "number" ? frame._offset : null,
    epoch: frame._epoch ?? null,
  };
}

/** Why ``error`` happened, in a line: the hub's code when it gave one. */
export function describeError(error) {
  if (error instanceof HubError || (error && typeof error === "object" && "code" in error)) {
    const reason = error.reason ?? error.message ?? "";
    return reason && !String(reason).startsWith(String(error.code))
      ? `${error.code}: ${reason}` : String(reason || error.code);
  }
  return error instanceof Error ? error.message : String(error);
}

/** One connection to the hub; ``onStatus(state)`` hears connecting/connected/disconnected. */
export class Connection {
  constructor(onStatus = () => {}) {
    // Only a tab that holds a token sends one (a hub without auth needs none).
    this.client = new HubClient(hubUrl(), getToken() ? { getToken } : {});
    for (const state of ["connecting", "connected", "disconnected"]) {
      listen(this.client, state, () => onStatus(state));
    }
    // A connection that never opens must not become an unhandled rejection.
    this.ready = Promise.resolve(this.client.connected).then(() => true, () => false);
  }

  /** Subscribe ``pattern`` (retained values first); ``onMessage`` gets normalised messages. */
  async subscribe(pattern, onMessage, { last = true } = {}) {
    const sub = await this.client.subscribe(pattern, { last });
    listen(sub, "message", (message) => onMessage(normalise(message)));
    return {
      pattern,
      close() {
        try {
          const done = sub.unsubscribe();
          if (done && typeof done.catch === "function") done.catch(() => {});
        } catch {
          // already closed with the connection
        }
      },
    };
  }

  /** Publish and wait for the hub's ack; rejects with the hub's error. */
  publish(subject, data, { retain = false } = {}) {
    return this.client.publish(subject, data, { retain, ack: true });
  }
}
