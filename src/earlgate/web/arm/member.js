// One arm-probe of the mesh as a page: its Peering (from the gateway page),
// the connections to the other members, the 4 Hz sender and the receivers'
// delays (mesh.js). It behaves as a peer of `earlgate mesh` does: it dials
// every lower index (again every half second until it answers), keeps the
// first open connection per peer to send on (and reads from all), and sends
// one reading per tick to every member it has a connection to.
import { Channel } from "../gateway/peering.js";
import { plainTimers, every } from "../gateway/timers.js";
import { MemberStats, dialTargets, messageFor, others } from "./mesh.js";

// earlgate.gateway.mesh's RETRY_DELAY: wait between attempts to dial a member not there yet.
export const RETRY_MS = 500;
// Events kept for the page (the newest).
export const LOG_LIMIT = 100;

/** The wall clock in ms since the epoch, finer than Date.now() (shared with Python's time.time() on one host). */
export function wallMs() {
  return performance.timeOrigin + performance.now();
}

export class ArmMember {
  /**
   * @param options parseArmParams's
   * @param deps.makePeering(handlers) a Peering (or a fake); deps.timers; deps.clock (ms since the epoch);
   *   deps.now (ms, monotonic: the timers'); deps.random () => [0, 1) for the first tick's phase
   */
  constructor(options, { makePeering, timers = plainTimers, clock = wallMs, now = () => performance.now(), random = Math.random }) {
    this.options = options;
    this.timers = timers;
    this.clock = clock;
    this.now = now;
    this.random = random;
    this.stats = new MemberStats(options.id);
    this.expected = others(options.mesh, options.peers, options.index);
    this.sending = new Map(); // peer -> the Channel we send on
    this.open = new Map(); // peer -> every open connection
    this.log = [];
    this.listeners = { reading: new Set(), log: new Set() };
    this.stops = [];
    this.closed = false;
    this.signaling = "starting";
    this.setupMs = null;
    this.started = now();
    let settle;
    this.ready = new Promise((resolve, reject) => (settle = { resolve, reject }));
    this.ready.catch(() => {});
    this.settle = settle;
    this.peering = makePeering({
      opened: (conn) => this.#opened(conn),
      data: (conn, value) => this.#data(conn, value),
      closed: (conn) => this.#closed(conn),
      status: (text) => {
        this.signaling = text;
        this.#note("info", `signaling: ${text}`);
      },
      error: (text) => this.#note("error", text),
      registered: () => this.#registered(),
      fatal: (error) => {
        this.signaling = "stopped";
        this.#note("error", error.message);
        settle.reject(error);
      },
      dialFailed: (peer, text) => this.#note("info", text),
    });
  }

  on(type, fn) {
    this.listeners[type].add(fn);
  }

  #emit(type, ...args) {
    for (const fn of this.listeners[type]) {
      try {
        fn(...args);
      } catch {
        // The page's fault, not the mesh's.
      }
    }
  }

  #note(level, text) {
    const entry = { at: Date.now(), level, text };
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT) this.log.shift();
    this.#emit("log", entry);
  }

  start() {
    this.peering.start();
    this.stops.push(
      every(this.timers, this.options.connectTimeout * 1000, () => this.#checkComplete(true), { now: this.now }),
    );
  }

  #registered() {
    if (this.stops.length > 1) return; // registered again after a signaling restart
    this.#dialMissing();
    this.stops.push(every(this.timers, RETRY_MS, () => this.#dialMissing(), { now: this.now }));
    const period = 1000 / this.options.rate;
    this.stops.push(every(this.timers, period, () => this.#tick(), { firstMs: this.random() * period, now: this.now }));
  }

  /** Dial the lower members we have no connection to, as the backoff allows. */
  #dialMissing() {
    if (this.closed) return;
    for (const peer of dialTargets(this.options.mesh, this.options.index)) {
      if (!this.sending.has(peer) && this.peering.mayDial(peer)) this.peering.dial(peer, { serialization: "json" });
    }
  }

  #opened(conn) {
    const peer = conn.peer;
    if (!this.open.has(peer)) this.open.set(peer, new Set());
    this.open.get(peer).add(conn);
    // Both sides may have dialed: keep the first open connection to send on, read from both.
    if (!this.sending.has(peer)) {
      this.sending.set(peer, new Channel(conn));
      this.#note("info", `${peer} connected`);
    }
    this.#checkComplete(false);
  }

  #closed(conn) {
    const peer = conn.peer;
    const conns = this.open.get(peer);
    conns?.delete(conn);
    if (this.sending.get(peer)?.conn !== conn) return;
    const next = conns && [...conns][0];
    if (next) this.sending.set(peer, new Channel(next));
    else {
      this.sending.delete(peer);
      this.open.delete(peer);
      this.#note("warn", `${peer} left`);
    }
  }

  #data(conn, value) {
    const delay = this.stats.onMessage(conn.peer, value, this.clock());
    if (delay !== null) this.#emit("reading", conn.peer, value, delay);
  }

  #tick() {
    if (this.closed) return;
    const now = this.clock();
    const message = messageFor(this.options.id, this.stats.seq, this.options.size, now);
    let sent = 0;
    for (const channel of this.sending.values()) {
      if (!channel.open) continue;
      try {
        channel.send(message);
      } catch {
        continue; // closing, or too big for json: not sent, not counted
      }
      sent += 1;
    }
    this.stats.onSent(sent, now);
    this.stats.seq += 1;
  }

  /** Resolve ready once every other member is connected; at the timeout, say who is missing. */
  #checkComplete(timedOut) {
    const missing = this.expected.filter((peer) => !this.sending.has(peer));
    if (!missing.length && this.setupMs === null) {
      this.setupMs = this.now() - this.started;
      this.#note("info", `mesh of ${this.options.peers} complete in ${(this.setupMs / 1000).toFixed(2)} s`);
      this.settle.resolve();
    } else if (timedOut && this.setupMs === null) {
      const text = `mesh incomplete after ${this.options.connectTimeout} s: no connection to ${missing.join(", ")}`;
      this.#note("error", text);
      this.settle.reject(new Error(text));
    }
  }

  /** Plain JSON: what window.earlgateArm.stats() returns. */
  toJSON() {
    return {
      ...this.stats.toJSON(),
      mesh: this.options.mesh,
      peers: this.options.peers,
      index: this.options.index,
      registered: this.peering.registered,
      signaling: this.signaling,
      connected: [...this.sending.keys()].sort(),
      expected: this.expected,
      setup_ms: this.setupMs,
    };
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const stop of this.stops) stop();
    this.peering.close();
  }
}
