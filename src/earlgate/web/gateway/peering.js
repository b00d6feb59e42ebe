// The gateway page's PeerJS side: one Peer on the signaling server that
// survives the server's restarts, the data connections peers open to it, and
// the ones it dials. No routing here: the gateway (main.js) is told when a
// connection opens, carries data, and closes.
//
// PEERJS.md: a Peer whose socket closes emits "disconnected" and keeps its
// data connections; reconnect() registers the same id again. We call it with
// a backoff (1, 2, 5, 10 s) until the server answers; a Peer that was
// destroyed instead (its id was lost: taken, or never registered) is made
// afresh with the same id. Timers only, no requestAnimationFrame, so a
// background tab keeps its gateway.

// Waits (ms) before the next try, then the last one again (the Python gateway's DIAL_BACKOFF).
export const BACKOFF = [1000, 2000, 5000, 10_000];
// Errors after which a Peer is gone for good (PeerJS destroys it).
const FATAL = new Set(["browser-incompatible", "invalid-id", "invalid-key", "ssl-unavailable"]);

// PEERJS.md: json refuses messages of 16,300 bytes or more (and only says so in an
// "error" event); a channel refusing a send makes PeerJS close the connection.
export const JSON_LIMIT = 16_300;
const utf8 = new TextEncoder();

/**
 * A PeerJS DataConnection seen by an Outbox: {open, bufferedAmount, send}.
 * send() throws where PeerJS would fail quietly or close the connection, so
 * the outbox counts the message as send_failed and the connection stays.
 */
export class Channel {
  constructor(conn) {
    this.conn = conn;
  }

  get open() {
    return this.conn.open;
  }

  /**
   * Bytes waiting in the DataChannel. PeerJS holds messages in a buffer of its
   * own only past 8 MiB there (above any high-water mark the page accepts):
   * while it does, the channel counts as full.
   */
  get bufferedAmount() {
    const channel = this.conn.dataChannel;
    const buffered = channel ? channel.bufferedAmount : 0;
    return this.conn.bufferSize ? buffered + 8 * 1024 * 1024 : buffered;
  }

  send(value) {
    const conn = this.conn;
    if (!conn.open) throw new Error(`connection to ${conn.peer} is not open`);
    if (conn.serialization === "json") {
      const text = JSON.stringify(value);
      if (text === undefined) throw new TypeError(`json cannot carry a ${typeof value}`);
      if (text.length * 3 >= JSON_LIMIT && utf8.encode(text).length >= JSON_LIMIT) {
        throw new RangeError(`message too big for json (${JSON_LIMIT} bytes or more)`);
      }
    } else if (conn.serialization === "raw") {
      if (typeof value !== "string" && typeof value?.byteLength !== "number") {
        throw new TypeError("raw carries text or bytes only");
      }
      const limit = conn.peerConnection?.sctp?.maxMessageSize;
      if (limit) {
        const long = typeof value === "string" && value.length * 3 > limit;
        const size = typeof value === "string" ? (long ? utf8.encode(value).length : 0) : value.byteLength;
        if (size > limit) throw new RangeError(`message too big for the channel (${limit} bytes)`);
      }
    }
    conn.send(value);
  }
}

/**
 * Keeps a Peer registered and its connections reported.
 *
 * @param options.id, options.signal {host, port, path, secure}, options.key, options.ice,
 *   options.relayOnly, options.serialization (of the connections it dials),
 *   options.connectTimeout (s), options.dialBackoff (ms after each failed dial; default BACKOFF)
 * @param handlers.opened(conn), handlers.data(conn, value), handlers.closed(conn),
 *   handlers.status(text), handlers.error(text), handlers.registered(), handlers.fatal(error),
 *   handlers.dialFailed(peer, text): each optional
 * @param PeerClass PeerJS's Peer (the vendored UMD build sets window.peerjs)
 */
export class Peering {
  constructor(options, handlers, PeerClass = globalThis.peerjs?.Peer) {
    if (typeof PeerClass !== "function") throw new Error("PeerJS is not loaded (/vendor/peerjs/peerjs.min.js)");
    this.options = { dialBackoff: BACKOFF, ...options };
    const ignore = () => {};
    this.handlers = {
      opened: ignore,
      data: ignore,
      closed: ignore,
      status: ignore,
      error: ignore,
      registered: ignore,
      fatal: ignore,
      dialFailed: ignore,
      ...handlers,
    };
    this.Peer = PeerClass;
    this.peer = null;
    this.registered = false; // the id is registered with the signaling server now
    this.attempts = 0;
    this.timer = null; // the backoff before the next try
    this.watchdog = null; // a try that neither opens nor fails in time
    this.closed = false;
    this.dialing = new Map(); // peer id -> {conn, timer}
    this.dialAfter = new Map(); // peer id -> {failures, notBefore}
    this.reconnects = 0;
  }

  start() {
    this.#make();
    this.#watchRegistration();
  }

  #peerOptions() {
    const { signal, key, ice, relayOnly } = this.options;
    const config = { iceServers: ice };
    if (relayOnly) config.iceTransportPolicy = "relay";
    return { host: signal.host, port: signal.port, path: signal.path, secure: signal.secure, key, config, debug: 0 };
  }

  #make() {
    const peer = new this.Peer(this.options.id, this.#peerOptions());
    this.peer = peer;
    peer.on("open", () => {
      if (peer !== this.peer) return;
      this.#clearWatchdog();
      this.registered = true;
      this.attempts = 0;
      this.handlers.status("registered");
      this.handlers.registered();
    });
    peer.on("connection", (conn) => this.#adopt(conn));
    peer.on("disconnected", () => {
      if (peer !== this.peer || this.closed) return;
      this.#clearWatchdog();
      this.registered = false;
      this.handlers.status("signaling server lost; reconnecting");
      this.#retry();
    });
    peer.on("close", () => {
      if (peer !== this.peer || this.closed) return;
      this.#clearWatchdog();
      this.registered = false;
      this.handlers.status("peer destroyed; registering again");
      this.#retry();
    });
    peer.on("error", (error) => this.#onError(peer, error));
  }

  #onError(peer, error) {
    if (peer !== this.peer) return;
    const type = error?.type ?? "error";
    if (type === "peer-unavailable") {
      // "Could not connect to peer ID": that dial failed now, not at its timeout.
      const match = /peer (.+)$/.exec(error.message ?? "");
      if (match && this.dialing.has(match[1])) this.#dialFailed(match[1], "not on the signaling server");
      return;
    }
    this.handlers.error(`signaling: ${type}: ${error?.message ?? error}`);
    if (FATAL.has(type) && !this.registered) {
      this.closed = true;
      this.handlers.fatal(new Error(`signaling: ${type}: ${error?.message ?? error}`));
      return;
    }
    if (type === "unavailable-id") {
      // The server still holds our id (its old socket not yet timed out): try again later.
      this.#retry();
    }
  }

  #retry() {
    if (this.timer !== null || this.closed) return;
    const delay = BACKOFF[Math.min(this.attempts, BACKOFF.length - 1)];
    this.attempts += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed || this.registered) return;
      this.reconnects += 1;
      const peer = this.peer;
      if (peer && !peer.destroyed && peer.disconnected) peer.reconnect();
      else if (!peer || peer.destroyed) this.#make();
      this.#watchRegistration();
    }, delay);
  }

  /** If neither "open" nor another "disconnected" comes in time, start afresh. */
  #watchRegistration() {
    this.#clearWatchdog();
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      if (this.registered || this.closed) return;
      const stuck = this.peer;
      if (stuck && !stuck.destroyed) stuck.destroy(); // its "close" retries
      else this.#retry();
    }, this.options.connectTimeout * 1000);
  }

  #clearWatchdog() {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  #adopt(conn) {
    const timeout = setTimeout(() => {
      if (!conn.open) {
        this.handlers.error(`connection from ${conn.peer} did not open within ${this.options.connectTimeout} s`);
        conn.close();
      }
    }, this.options.connectTimeout * 1000);
    this.#watch(conn, () => clearTimeout(timeout));
  }

  /** Report `conn`'s open (and whether we dialed it), data and close to the handlers, once each. */
  #watch(conn, onOpen = () => {}, dialed = false) {
    let open = false;
    let closed = false;
    conn.on("open", () => {
      onOpen();
      if (closed) return;
      open = true;
      this.handlers.opened(conn, dialed);
    });
    conn.on("data", (value) => {
      if (open && !closed) this.handlers.data(conn, value);
    });
    const close = () => {
      if (closed) return;
      closed = true;
      onOpen();
      if (open) this.handlers.closed(conn);
    };
    conn.on("close", close);
    conn.on("error", (error) => {
      this.handlers.error(`connection ${conn.peer}: ${error?.type ?? "error"}: ${error?.message ?? error}`);
      // A channel that failed will not carry more; PeerJS closes it.
      if (!conn.open) close();
    });
    conn.on("iceStateChanged", (state) => {
      if (state === "failed" || state === "closed") close();
    });
  }

  /** Whether the backoff lets us dial `peer` now. */
  mayDial(peer) {
    if (this.closed || !this.registered || peer === this.options.id || this.dialing.has(peer)) return false;
    const after = this.dialAfter.get(peer);
    return !after || performance.now() >= after.notBefore;
  }

  /** Open a data connection to `peer` (the caller checked mayDial). */
  dial(peer, { serialization = this.options.serialization } = {}) {
    const conn = this.peer.connect(peer, { serialization, reliable: true });
    if (!conn) {
      this.#dialFailed(peer, "PeerJS refused to connect");
      return;
    }
    const timer = setTimeout(() => this.#dialFailed(peer, `no answer within ${this.options.connectTimeout} s`), this.options.connectTimeout * 1000);
    this.dialing.set(peer, { conn, timer });
    this.#watch(
      conn,
      () => {
        const entry = this.dialing.get(peer);
        if (entry?.conn !== conn) return;
        if (!conn.open) {
          this.#dialFailed(peer, "the connection closed before it opened");
          return;
        }
        clearTimeout(entry.timer);
        this.dialing.delete(peer);
        this.dialAfter.delete(peer);
      },
      true,
    );
  }

  /** Dial `peer` without waiting from now on (it connected by itself). */
  forgetDial(peer) {
    this.dialAfter.delete(peer);
  }

  #dialFailed(peer, why) {
    const entry = this.dialing.get(peer);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.dialing.delete(peer);
    entry.conn.close();
    const failures = (this.dialAfter.get(peer)?.failures ?? 0) + 1;
    const backoff = this.options.dialBackoff;
    const delay = backoff[Math.min(failures - 1, backoff.length - 1)];
    this.dialAfter.set(peer, { failures, notBefore: performance.now() + delay });
    this.handlers.dialFailed(peer, `cannot reach ${peer} (${why}); next try in ${delay / 1000} s`);
  }

  close() {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.#clearWatchdog();
    for (const { timer } of this.dialing.values()) clearTimeout(timer);
    this.dialing.clear();
    this.peer?.destroy();
  }
}
