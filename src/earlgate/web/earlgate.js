// earlgate.js: the browser (and Node >= 22) client of an earlgate hub.
// One zero-dependency ES module, served by every hub at GET /earlgate.js;
// types in earlgate.d.ts; guide in docs/browser.md. The wire contract is
// PROTOCOL.md (v1) with docs/hub.md's additions (auth frame, resume).
// Nothing here touches window/document at import time: the pure parts
// (checkSubject, checkPattern, matches, backoffDelay, tokenExp, Subscription's
// bookkeeping) are exported for tests under node --test.

const MAX_SUBJECT_BYTES = 256;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const now = () => Date.now();
// Publish stamps: sub-millisecond, like the Python client's.
const stamp = () =>
  typeof performance !== "undefined" && performance.timeOrigin
    ? Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000
    : now();

/** An error of this client (not the hub's answer); `code` says which. */
export class ClientError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "ClientError";
    this.code = code;
  }
}

/** A subject or pattern that breaks PROTOCOL.md's rules (code "bad_subject"). */
export class SubjectError extends ClientError {
  constructor(message) {
    super("bad_subject", message);
    this.name = "SubjectError";
  }
}

/** The hub refused a frame; `code` is PROTOCOL.md's error code. */
export class HubError extends Error {
  constructor(code, reason) {
    super(`${code}: ${reason}`);
    this.name = "HubError";
    this.code = code;
    this.reason = reason;
  }
}

function checkCommon(text) {
  if (typeof text !== "string") throw new SubjectError("subject must be a string");
  if (!text) throw new SubjectError("subject is empty");
  if (LONE_SURROGATE.test(text)) throw new SubjectError("subject is not valid UTF-8");
  if (new TextEncoder().encode(text).length > MAX_SUBJECT_BYTES)
    throw new SubjectError(`subject is longer than ${MAX_SUBJECT_BYTES} bytes`);
  if (text.includes("\0")) throw new SubjectError("subject contains NUL");
  if (text[0] === "$") throw new SubjectError("subject starts with '$', which is reserved for the hub");
  const levels = text.split("/");
  if (levels.includes("")) throw new SubjectError("subject has an empty level");
  return levels;
}

/** Return `text` if it is a publishable subject, else throw SubjectError. */
export function checkSubject(text) {
  checkCommon(text);
  if (/[+#]/.test(text)) throw new SubjectError("wildcards are not allowed in a published subject");
  return text;
}

/** Return `text` if it is a subscription pattern, else throw SubjectError. */
export function checkPattern(text) {
  const levels = checkCommon(text);
  levels.forEach((level, i) => {
    if (level === "#") {
      if (i !== levels.length - 1) throw new SubjectError("'#' is allowed only as the last level");
    } else if (level !== "+" && /[+#]/.test(level)) {
      throw new SubjectError("a wildcard must fill a whole level");
    }
  });
  return text;
}

const isWildcard = (pattern) => /[+#]/.test(pattern);

/** Whether `subject` matches `pattern` (both assumed valid). */
export function matches(pattern, subject) {
  if (!isWildcard(pattern)) return pattern === subject;
  const p = pattern.split("/");
  const s = subject.split("/");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "#") return true;
    if (i >= s.length || (p[i] !== "+" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** Run `fn` in a fresh task; a MessageChannel is not throttled in background tabs as timers are. */
function nextTask(fn) {
  if (typeof MessageChannel !== "function") return setTimeout(fn, 0);
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    fn();
  };
  channel.port2.postMessage(null);
  return channel;
}

/** Full-jitter exponential backoff: a delay in [0, min(max, initial * 2^attempt)) ms. */
export function backoffDelay(attempt, { initial = 500, max = 20000 } = {}, random = Math.random) {
  return Math.floor(random() * Math.min(max, initial * 2 ** Math.min(attempt, 30)));
}

/** The `exp` claim (seconds since the epoch) of a JWT, or null (no exp, not a JWT). */
export function tokenExp(token) {
  try {
    const part = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part + "===".slice((part.length + 3) % 4)), (c) => c.charCodeAt(0));
    const exp = JSON.parse(new TextDecoder().decode(bytes)).exp;
    return typeof exp === "number" && isFinite(exp) ? exp : null;
  } catch {
    return null;
  }
}

/** When to refresh a token expiring at `exp` (s), seen at `at` (ms): a quarter of the time left before it, at most 30 s before. */
export function refreshAt(exp, at = now()) {
  const left = exp * 1000 - at;
  return at + Math.max(0, left - Math.min(30000, left / 4));
}

/** A tiny emitter: on(type, fn), off(type, fn); listeners get one detail object. */
export class Emitter {
  #listeners = new Map();
  on(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(fn);
    return this;
  }
  off(type, fn) {
    this.#listeners.get(type)?.delete(fn);
    return this;
  }
  emit(type, detail) {
    for (const fn of [...(this.#listeners.get(type) || [])]) {
      try {
        fn(detail);
      } catch (error) {
        // A listener's bug must not break delivery to the others: report it.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}

/**
 * One subscription: its resume bookkeeping (mirrors earlgate.client.resume),
 * its listeners ("message", "unrecovered", "error") and, once iterated, a
 * bounded buffer for `for await`.
 */
export class Subscription extends Emitter {
  constructor(pattern, { last = false, since = null, epoch = null, resume = false, maxsize = 10000 } = {}, client = null) {
    super();
    checkPattern(pattern);
    if (since != null && isWildcard(pattern))
      throw new ClientError("bad_frame", "since needs a single subject: resume a pattern with resume: true");
    if (since != null && resume) throw new ClientError("bad_frame", "use since or resume, not both");
    this.pattern = pattern;
    this.last = last;
    this.offset = since; // last durable offset seen (exact subjects)
    this.epoch = epoch;
    this.positions = resume ? new Map() : null; // subject -> [offset, epoch]
    this.started = false; // a resumable subscription was acked once
    this.recovered = null;
    this.unrecovered = 0;
    this.duplicates = 0;
    this.dropped = 0; // dropped from the for-await buffer (oldest first)
    this.closed = false;
    this.client = client;
    this.maxsize = maxsize;
    this.buffer = null; // created by the first iterator
    this.head = 0;
    this.wake = null;
  }

  /** Record a matching message; false when it was seen before (a replay overlapping). */
  push(message) {
    const offset = message._offset;
    const epoch = message._epoch;
    if (!Number.isInteger(offset)) return true;
    if (this.positions) {
      const known = this.positions.get(message.subject);
      if (known && known[1] === epoch && offset <= known[0]) return !++this.duplicates;
      if (known && typeof epoch === "string" && known[1] !== epoch) this.lost();
      if (typeof epoch === "string") this.positions.set(message.subject, [offset, epoch]);
    } else if (!isWildcard(this.pattern)) {
      if (this.offset != null && offset <= this.offset && epoch === this.epoch) return !++this.duplicates;
      if (this.epoch != null && typeof epoch === "string" && epoch !== this.epoch) this.lost();
      this.offset = offset;
      if (typeof epoch === "string") this.epoch = epoch;
    }
    return true;
  }

  lost() {
    this.recovered = false;
    this.unrecovered++;
    this.emit("unrecovered", { subscription: this });
    this.client?.emit("unrecovered", { subscription: this });
  }

  /** The hub's ack of a (re)subscribe, before any message it replays. */
  acked(ack) {
    if (typeof ack.recovered === "boolean") {
      this.recovered = ack.recovered;
      if (!ack.recovered) {
        if (!this.positions) this.epoch = null; // the replay that follows is in the new epoch
        this.recovered = true; // lost() sets it false and counts
        this.lost();
      }
    }
    const positions = ack.positions;
    if (!this.positions || !positions || typeof positions !== "object") return;
    this.started = true;
    for (const [subject, position] of Object.entries(positions)) {
      if (!Array.isArray(position) || position.length !== 2) continue;
      const [offset, epoch] = position;
      const known = this.positions.get(subject);
      if (!known || known[1] !== epoch || known[0] < offset) this.positions.set(subject, [offset, epoch]);
    }
  }

  /** The subscribe frame that starts or resumes this subscription. */
  subscribeFrame(id) {
    const frame = { type: "subscribe", subject: this.pattern, id };
    if (this.positions) frame.resume = this.started ? Object.fromEntries(this.positions) : true;
    else if (this.offset != null) {
      frame.since = this.offset;
      if (this.epoch != null) frame.epoch = this.epoch;
    } else if (this.last) frame.last = true;
    return frame;
  }

  deliver(message) {
    if (this.closed || !this.push(message)) return;
    this.emit("message", message);
    const buffer = this.buffer;
    if (!buffer) return;
    if (this.wake) {
      const wake = this.wake;
      this.wake = null;
      wake({ value: message, done: false });
      return;
    }
    if (buffer.length - this.head >= this.maxsize) {
      this.head++;
      this.dropped++;
    }
    buffer.push(message);
    if (this.head > 1024 && this.head * 2 > buffer.length) {
      buffer.splice(0, this.head);
      this.head = 0;
    }
  }

  end() {
    this.closed = true;
    if (this.wake) this.wake({ value: undefined, done: true });
    this.wake = null;
  }

  [Symbol.asyncIterator]() {
    this.buffer ??= [];
    return {
      next: () => {
        const buffer = this.buffer;
        if (buffer && this.head < buffer.length) {
          const value = buffer[this.head];
          buffer[this.head++] = undefined;
          return Promise.resolve({ value, done: false });
        }
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.wake = resolve));
      },
      return: () => {
        this.buffer = null; // stop buffering; the subscription itself stays
        this.head = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Stop receiving; resolves once the hub was told (or at once when offline). */
  unsubscribe() {
    this.end();
    return this.client ? this.client.unsubscribe(this) : Promise.resolve();
  }
}

/**
 * The client: connects, reconnects with backoff and full jitter, resubscribes
 * and resumes, refreshes tokens, keeps a bounded offline queue and checks
 * liveness by wall-clock time. Events: "connecting" {attempt, delay},
 * "connected" {}, "disconnected" {code, reason}, "dropped" {dropped, total},
 * "unrecovered" {subscription}, "error" {error}, "token" {exp}.
 */
export class HubClient extends Emitter {
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = {
      getToken: null,
      backoff: { initial: 500, max: 20000 },
      queueSize: 1000,
      pingInterval: 15000,
      pongTimeout: 10000,
      ackTimeout: 10000,
      stableAfter: 5000,
      subscriptionSize: 10000,
      batch: true,
      WebSocket: globalThis.WebSocket,
      ...options,
    };
    this.state = "connecting";
    this.subscriptions = [];
    this.queue = []; // [raw, entry|null] waiting for a connection
    this.pending = new Map(); // id -> {resolve, reject, timer, sent}
    this.ids = 1;
    this.attempt = 0;
    this.ws = null;
    this.closed = false;
    this.token = null;
    this.tokenAt = 0; // when to refresh (ms since the epoch); 0: never
    this.refreshing = null; // the one token fetch in flight
    this.waiters = [];
    this.lastFrame = 0;
    this.inbox = []; // lines of a batched frame not yet handled
    this.inboxAt = 0;
    this.resumeInbox = null; // wakes the inbox after an answer (a macrotask)
    this.pingAt = 0;
    this.lastTick = now();
    this.ticker = setInterval(() => this.tick(), Math.min(1000, this.options.pingInterval));
    this.retryTimer = null;
    this.wakeUp = () => this.poke();
    if (typeof window !== "undefined" && window.addEventListener) {
      window.addEventListener("online", this.wakeUp);
      window.addEventListener("pageshow", this.wakeUp);
      globalThis.document?.addEventListener("visibilitychange", this.wakeUp);
    }
    this.emit("connecting", { attempt: 0, delay: 0 });
    this.connect();
  }

  /** A promise that resolves when connected (now or next); rejects once closed. */
  get connected() {
    if (this.state === "connected") return Promise.resolve();
    if (this.closed) return Promise.reject(new ClientError("closed", "client closed"));
    return new Promise((resolve, reject) => this.waiters.push([resolve, reject]));
  }

  /** Frames waiting in the offline queue. */
  get queued() {
    return this.queue.length;
  }

  setState(state, type, detail) {
    this.state = state;
    this.emit(type, detail);
  }

  fetchToken() {
    this.refreshing ??= Promise.resolve()
      .then(() => this.options.getToken())
      .then((token) => {
        this.token = token;
        const exp = tokenExp(token);
        this.tokenAt = exp == null ? 0 : refreshAt(exp);
        this.emit("token", { exp });
        return token;
      })
      .finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  async connect() {
    this.retryTimer = null;
    let url = this.url;
    try {
      if (this.options.getToken) {
        const token = await this.fetchToken();
        url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
      }
      if (this.closed) return;
      // Ask for batched delivery: a hub that knows it may put several messages
      // in one frame, one JSON object per line; one that does not ignores it.
      if (this.options.batch) url += (url.includes("?") ? "&" : "?") + "batch=1";
      const ws = new this.options.WebSocket(url);
      this.ws = ws;
      this.openedAt = 0;
      ws.binaryType = "arraybuffer";
      ws.onopen = () => this.opened(ws);
      ws.onmessage = (event) => this.received(ws, event.data);
      ws.onclose = (event) => this.lostConnection(ws, event.code, event.reason || "connection closed");
      this.connectDue = now() + this.options.pongTimeout;
    } catch (error) {
      this.emit("error", { error });
      this.lostConnection(this.ws, 0, String(error?.message || error), true);
    }
  }

  opened(ws) {
    if (ws !== this.ws) return;
    this.openedAt = this.lastFrame = now();
    this.pingAt = 0;
    for (const sub of this.subscriptions) this.write(sub.subscribeFrame(this.expect(sub.handlers())));
    const queue = this.queue;
    this.queue = [];
    for (const [raw, entry] of queue) {
      ws.send(raw);
      if (entry) entry.sent = true;
    }
    for (const [resolve] of this.waiters.splice(0)) resolve();
    this.setState("connected", "connected", {});
  }

  lostConnection(ws, code, reason, failed = false) {
    if (ws !== this.ws && !failed) return;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = null;
    this.ws = null;
    const wasUp = this.state === "connected";
    if (this.openedAt && now() - this.openedAt >= this.options.stableAfter) this.attempt = 0;
    this.openedAt = 0;
    for (const [id, entry] of this.pending) {
      if (!entry.sent) continue; // still in the queue: sent on the next connection
      this.pending.delete(id);
      clearTimeout(entry.timer);
      entry.reject(new ClientError("disconnected", `connection lost before the answer (${reason})`), true);
    }
    if (wasUp) this.setState("disconnected", "disconnected", { code, reason });
    if (this.closed) return;
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.setState("connecting", "connecting", { attempt: this.attempt, delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** online / pageshow / visible again: reconnect now, or check the connection. */
  poke() {
    if (this.closed) return;
    if (globalThis.document?.visibilityState === "hidden") return;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.attempt = 0;
      this.connect();
    } else if (this.state === "connected" && !this.pingAt) this.ping();
  }

  ping() {
    this.pingAt = now();
    this.write({ type: "ping", id: this.expect({ resolve() {}, reject() {} }) });
  }

  tick() {
    const t = now();
    const slept = t - this.lastTick > this.options.pongTimeout; // timers throttled or page frozen
    this.lastTick = t;
    if (this.tokenAt && t >= this.tokenAt && this.state === "connected") this.refresh();
    const ws = this.ws;
    if (!ws) return;
    if (this.state !== "connected") {
      if (t > this.connectDue && !slept) {
        ws.close();
        this.lostConnection(ws, 0, "connect timeout");
      }
      return;
    }
    if (this.pingAt && this.lastFrame >= this.pingAt) this.pingAt = 0;
    if (this.pingAt) {
      // Judge by wall-clock time awake since the ping, not by how often timers ran.
      if (slept) this.ping(); // the answer may still be queued: ask again, judge later
      else if (t - this.pingAt > this.options.pongTimeout) {
        ws.close(4000, "no pong");
        this.lostConnection(ws, 4000, "no answer to ping");
      }
    } else if (t - this.lastFrame >= this.options.pingInterval || slept) this.ping();
  }

  /** Fetch a fresh token and send it on the open connection (one refresh at a time). */
  async refresh() {
    if (this.refreshing || !this.options.getToken) return;
    this.tokenAt = 0;
    try {
      const token = await this.fetchToken();
      if (this.state === "connected") await this.request({ type: "auth", token }, this.options.ackTimeout);
    } catch (error) {
      this.emit("error", { error });
      if (!this.tokenAt) this.tokenAt = now() + 1000; // retry soon; the hub closes with 4001 at exp
    }
  }

  received(ws, data) {
    if (ws !== this.ws) return;
    this.lastFrame = now();
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    if (this.inboxAt === this.inbox.length && !text.includes("\n")) {
      this.handle(text);
      return;
    }
    for (const line of text.split("\n")) if (line) this.inbox.push(line);
    if (!this.resumeInbox) this.drain();
  }

  /**
   * Handle a batched frame's lines in order. An answer settles a promise, and
   * the code awaiting it (say, attaching a listener to a new subscription)
   * must run before the next message, as it would between separate frames:
   * after an answer, the rest waits for a fresh task.
   */
  drain() {
    this.resumeInbox = null;
    while (this.inboxAt < this.inbox.length) {
      const answered = this.handle(this.inbox[this.inboxAt++]);
      if (answered && this.inboxAt < this.inbox.length) {
        this.resumeInbox = nextTask(() => this.drain());
        return;
      }
    }
    this.inbox = [];
    this.inboxAt = 0;
  }

  /** One JSON frame from the hub (JSON text never holds a raw newline); true when it settled a request. */
  handle(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return false;
    }
    if (!frame || typeof frame !== "object") return false;
    const { type, id, subject } = frame;
    if ((type === "ack" || type === "pong" || type === "error") && id != null) {
      const entry = this.pending.get(id);
      if (!entry) return false;
      this.pending.delete(id);
      clearTimeout(entry.timer);
      if (type === "error") entry.reject(new HubError(frame.code, frame.reason));
      else entry.resolve(frame);
      return true;
    }
    if (type === "error") {
      this.emit("error", { error: new HubError(frame.code, frame.reason) });
      return false;
    }
    if (typeof subject !== "string") return false;
    if (subject === "$hub/dropped") {
      this.emit("dropped", frame.data || {});
      return false;
    }
    for (const sub of this.subscriptions) if (matches(sub.pattern, subject)) sub.deliver(frame);
    return false;
  }

  expect(entry) {
    const id = this.ids++;
    this.pending.set(id, entry);
    entry.sent = false;
    return id;
  }

  write(frame) {
    this.ws.send(JSON.stringify(frame));
    const entry = this.pending.get(frame.id);
    if (entry) entry.sent = true;
  }

  send(frame, entry = null) {
    if (this.closed) throw new ClientError("closed", "client closed");
    const raw = JSON.stringify(frame);
    if (this.state === "connected" && !this.queue.length) {
      this.ws.send(raw);
      if (entry) entry.sent = true;
      return;
    }
    if (this.queue.length >= this.options.queueSize)
      throw new ClientError(
        "queue_full",
        `offline queue full (${this.options.queueSize} frames): hub not connected; publish refused`,
      );
    this.queue.push([raw, entry]);
  }

  /** Send `frame` with a fresh id; resolves with the hub's ack, rejects with HubError. */
  request(frame, timeout = this.options.ackTimeout) {
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject };
      frame.id = this.expect(entry);
      entry.timer = setTimeout(() => {
        this.pending.delete(frame.id);
        this.queue = this.queue.filter((item) => item[1] !== entry);
        reject(new ClientError("timeout", `no answer from the hub within ${timeout} ms`));
      }, timeout);
      try {
        this.send(frame, entry);
      } catch (error) {
        this.pending.delete(frame.id);
        clearTimeout(entry.timer);
        reject(error);
      }
    });
  }

  /** Publish `data` on `subject`; with `ack: true` resolves on the hub's ack. */
  publish(subject, data, { retain = false, ack = false, timeout, published, fields } = {}) {
    try {
      checkSubject(subject);
      const frame = { type: "publish", subject, published: published ?? stamp(), ...fields };
      if (data !== undefined) frame.data = data;
      if (retain) frame.retain = true;
      if (ack) return this.request(frame, timeout ?? this.options.ackTimeout).then(() => undefined);
      this.send(frame);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Subscribe; resolves with the Subscription once the hub acked it (rejects with HubError). */
  subscribe(pattern, options = {}) {
    let sub;
    try {
      if (this.closed) throw new ClientError("closed", "client closed");
      sub = new Subscription(pattern, { maxsize: this.options.subscriptionSize, ...options }, this);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      sub.ready = [resolve, reject];
      this.subscriptions.push(sub);
      if (this.state === "connected") this.write(sub.subscribeFrame(this.expect(sub.handlers())));
    });
  }

  unsubscribe(sub) {
    const index = this.subscriptions.indexOf(sub);
    if (index < 0) return Promise.resolve();
    this.subscriptions.splice(index, 1);
    sub.end();
    if (this.state !== "connected" || this.subscriptions.some((s) => s.pattern === sub.pattern))
      return Promise.resolve(); // offline: the hub forgot it with the connection
    return this.request({ type: "unsubscribe", subject: sub.pattern }).then(() => undefined);
  }

  /** Close for good: pending answers and queued frames are rejected with code "closed". */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    clearTimeout(this.retryTimer);
    if (typeof window !== "undefined" && window.removeEventListener) {
      window.removeEventListener("online", this.wakeUp);
      window.removeEventListener("pageshow", this.wakeUp);
      globalThis.document?.removeEventListener("visibilitychange", this.wakeUp);
    }
    const error = new ClientError("closed", "client closed");
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    this.pending.clear();
    this.queue = [];
    for (const sub of this.subscriptions) sub.end();
    for (const [, reject] of this.waiters.splice(0)) reject(error);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close(1000, "client closed");
    }
    this.setState("closed", "disconnected", { code: 1000, reason: "client closed" });
  }
}

// The answers to a subscription's (re)subscribe frame.
Subscription.prototype.handlers = function () {
  return {
    resolve: (ack) => {
      this.acked(ack);
      const ready = this.ready;
      this.ready = null;
      ready?.[0](this);
    },
    reject: (error, lost) => {
      if (lost) return; // the connection went: resent on the next one
      const ready = this.ready;
      this.ready = null;
      if (ready || error.code === "closed") {
        this.client?.subscriptions.splice(this.client.subscriptions.indexOf(this) >>> 0, 1);
        this.end();
        ready?.[1](error);
      } else {
        this.emit("error", { error });
        this.client?.emit("error", { error, subscription: this });
      }
    },
  };
};
