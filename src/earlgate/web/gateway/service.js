// The gateway page's gateway: the thin layer over the pure Router that
// earlgate.gateway.service is in Python. It turns what happens on the data
// connections (through a Peering) and the hub subscriptions (through
// earlgate.js's HubClient) into the router's events, and performs the actions
// the router returns: sends into per-destination Outboxes, mux windows on
// timers, hub publishes and subscriptions.
//
// Everything it touches is injected (the peering, the hub, the timers, the
// clock), so Node's tests drive it with fakes; the page gives it the real ones.
import { Multiplexer, PART_OVERHEAD, sizeOf } from "./aggregate.js";
import { Outbox } from "./outbox.js";
import { Channel } from "./peering.js";
import { Router } from "./router.js";
import { Routes, RoutesError } from "./routes.js";
import { GatewayMetrics, routeSummary } from "./stats.js";
import { plainTimers } from "./timers.js";

// Log entries the page keeps (the newest); older ones are dropped.
export const LOG_LIMIT = 200;

function isBinary(value) {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value) || (typeof Blob === "function" && value instanceof Blob);
}

/** A message's size for the byte counters; 0 for what JSON cannot carry. */
function safeSize(value) {
  try {
    return sizeOf(value);
  } catch {
    return 0;
  }
}

/** One mux rule's Multiplexer and the timer that closes its window (lanes.py). */
export class MuxLane {
  constructor(rule, stats, deliver, { window, maxParts, maxBytes, timers = plainTimers, now = () => performance.now() }) {
    this.rule = rule;
    this.stats = stats;
    this.deliver = deliver;
    this.timers = timers;
    this.now = now;
    this.mux = new Multiplexer({ window, maxParts, maxBytes, clock: () => now() / 1000, timer: () => now() / 1000 });
    this.cancel = null;
  }

  add(src, value) {
    // A window whose timer is late (a throttled tab) closes now, before this part.
    const overdue = this.mux.poll();
    if (overdue) this.#emit(overdue);
    let ts = typeof value === "object" && value !== null && !Array.isArray(value) ? value.ts : undefined;
    if (typeof ts !== "number" || !Number.isFinite(ts)) ts = null; // the part carries its arrival
    let size;
    try {
      size = sizeOf(value);
    } catch {
      this.stats.dropped.add("unserializable");
      return;
    }
    const batch = this.mux.add(src, value, { ts, size: size + src.length + PART_OVERHEAD });
    if (batch) this.#emit(batch);
    this.#arm();
  }

  #arm() {
    const deadline = this.mux.deadline();
    if (deadline === null || this.cancel !== null) return;
    this.cancel = this.timers.after((deadline - this.now() / 1000) * 1000, () => {
      this.cancel = null;
      const batch = this.mux.poll();
      if (batch) this.#emit(batch);
      this.#arm();
    });
  }

  #emit(batch) {
    this.stats.processing.recordMs(batch.buildS * 1000);
    this.stats.partsOut += batch.parts;
    const arrived = this.now() - batch.heldS * 1000;
    this.deliver(this.rule.to, { value: batch.message, route: this.stats, arrived, size: safeSize(batch.message) });
  }

  /** Flush the open window (on close or new routes). */
  close() {
    this.cancel?.();
    this.cancel = null;
    const batch = this.mux.flush();
    if (batch) this.#emit(batch);
  }
}

/** `routes` without its bridges. */
function withoutBridges(routes) {
  const copy = new Routes();
  copy.forwards = routes.forwards;
  copy.muxes = routes.muxes;
  copy.demuxes = routes.demuxes;
  return copy;
}

/**
 * The gateway. `makePeering(handlers)` returns a started-later Peering (or a
 * fake with start, close, registered, mayDial, dial, forgetDial); `makeHub()`
 * an earlgate.js HubClient (called only with options.hub).
 */
export class Gateway {
  constructor(options, { makePeering, makeHub = null, timers = plainTimers, now = () => performance.now() }) {
    this.options = options;
    this.timers = timers;
    this.now = now;
    this.metrics = new GatewayMetrics();
    this.routes = new Routes();
    this.routesText = "";
    this.router = new Router(this.routes, { metrics: this.metrics });
    this.links = new Map(); // peer -> open connections, oldest first
    this.channels = new WeakMap(); // connection -> Channel
    this.outboxes = new Map(); // peer -> Outbox
    this.lanes = new Map(); // mux route -> MuxLane
    this.bridges = new Map(); // `${peer}\0${subject}` -> {sub}
    this.log = []; // {at, level, text}, newest last
    this.errors = 0;
    this.listeners = new Set();
    this.closed = false;
    this.signaling = "starting";
    this.hub = options.hub && makeHub ? makeHub() : null;
    if (this.hub) {
      this.hub.on("connected", () => this.#note("info", `hub ${options.hub} connected`));
      this.hub.on("disconnected", ({ reason }) => this.#note("warn", `hub ${options.hub} lost: ${reason}`));
      this.hub.on("error", ({ error }) => this.#note("error", `hub: ${error?.message ?? error}`));
    }
    this.registered = new Promise((resolve, reject) => {
      this.peering = makePeering({
        opened: (conn, dialed) => this.#guard(() => this.#opened(conn, dialed)),
        data: (conn, value) => this.#guard(() => this.#handle({ type: "message", peer: conn.peer, data: value })),
        closed: (conn) => this.#guard(() => this.#closed(conn)),
        status: (text) => {
          this.signaling = text;
          this.#note("info", `signaling: ${text}`);
        },
        error: (text) => this.#note("error", text),
        registered: () => resolve(),
        fatal: (error) => {
          this.signaling = "stopped";
          this.#note("error", error.message);
          reject(error);
        },
        dialFailed: (peer, text) => {
          this.metrics.dials.add("failed");
          this.#note("info", text);
          this.#dropOutbox(peer); // a part's dst that is not there: do not hoard for it
        },
      });
    });
    this.registered.catch(() => {});
  }

  /** Listen to log entries (for the page): fn({at, level, text}). */
  onLog(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  #note(level, text) {
    const entry = { at: Date.now(), level, text };
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
    if (level === "error") this.errors += 1;
    for (const fn of this.listeners) {
      try {
        fn(entry);
      } catch {
        // A listener's fault is the page's, not the gateway's.
      }
    }
  }

  /** Run a handler; a fault in one message is logged, never thrown at PeerJS. */
  #guard(fn) {
    try {
      fn();
    } catch (error) {
      this.#note("error", `gateway: ${error?.message ?? error}`);
    }
  }

  start() {
    this.peering.start();
  }

  /**
   * Apply `routes` (a checked Routes) from now on: the old mux windows are
   * flushed, bridge subscriptions made again, route counters start at 0.
   * Throws RoutesError for bridges without a hub (the Python gateway exits).
   */
  setRoutes(routes, text = "") {
    if (routes.bridges.length && !this.hub) {
      throw new RoutesError(`${routes.bridges.length} [[bridge]] rule(s) need a hub: add hub=ws://host:port/ws to the address`);
    }
    for (const lane of this.lanes.values()) lane.close();
    for (const peer of this.router.peers) this.#handle({ type: "left", peer });
    this.metrics.routes.clear();
    this.routes = routes;
    this.routesText = text;
    this.router = new Router(this.hub ? routes : withoutBridges(routes), { metrics: this.metrics });
    this.lanes = new Map();
    const { options } = this;
    for (const kind of ["forwards", "muxes", "demuxes", "bridges"]) for (const rule of routes[kind]) this.metrics.route(rule.name);
    for (const rule of routes.muxes) {
      const stats = this.metrics.route(rule.name, "mux");
      const lane = new MuxLane(rule, stats, (peer, item) => this.deliver(peer, item), {
        window: rule.window ?? options.muxWindow,
        maxParts: options.muxMaxParts,
        maxBytes: options.muxMaxBytes,
        timers: this.timers,
        now: this.now,
      });
      this.lanes.set(rule.name, lane);
    }
    for (const peer of this.links.keys()) this.#handle({ type: "joined", peer });
    this.#note("info", `routes: ${routes.size} rule(s) applied`);
  }

  // -- connections ------------------------------------------------------------

  #opened(conn, dialed) {
    const peer = conn.peer;
    this.metrics.connectionsOpened += 1;
    if (dialed) this.metrics.dials.add("opened");
    let links = this.links.get(peer);
    const first = !links;
    if (first) this.links.set(peer, (links = []));
    links.push(conn);
    this.peering.forgetDial?.(peer);
    const channel = new Channel(conn);
    this.channels.set(conn, channel);
    const outbox = this.#outbox(peer);
    const dataChannel = conn.dataChannel;
    if (dataChannel) {
      // W3C WebRTC 6.2: bufferedamountlow fires once bufferedAmount falls to the threshold.
      dataChannel.bufferedAmountLowThreshold = outbox.lowWater;
      dataChannel.addEventListener("bufferedamountlow", () => {
        const box = this.outboxes.get(peer);
        if (box?.conn === channel) this.#guard(() => box.drain());
      });
    }
    outbox.attach(channel);
    this.#note("info", `${peer} connected${dialed ? " (dialed)" : ""}`);
    if (first) this.#handle({ type: "joined", peer });
  }

  #closed(conn) {
    const peer = conn.peer;
    this.metrics.connectionsClosed += 1;
    const links = this.links.get(peer) ?? [];
    const index = links.indexOf(conn);
    if (index >= 0) links.splice(index, 1);
    const outbox = this.outboxes.get(peer);
    const channel = this.channels.get(conn);
    if (outbox && channel) {
      outbox.detach(channel);
      if (links.length) outbox.attach(this.channels.get(links[links.length - 1]));
    }
    if (links.length) return;
    this.links.delete(peer);
    this.#note("info", `${peer} left`);
    // A destination the routes name keeps its bounded queue for its return;
    // any other (a demux part's dst, a glob's match) leaves none behind.
    if (this.#dropOutbox(peer)) this.peering.forgetDial?.(peer);
    this.#handle({ type: "left", peer });
  }

  #outbox(peer) {
    let outbox = this.outboxes.get(peer);
    if (!outbox) {
      const { queueLimit: limit, highWater } = this.options;
      this.outboxes.set(peer, (outbox = new Outbox(peer, { limit, highWater, now: this.now })));
    }
    return outbox;
  }

  /** Drop an unconnected queue the routes do not name, counting what it held. */
  #dropOutbox(peer) {
    const outbox = this.outboxes.get(peer);
    if (!outbox || outbox.conn !== null || this.router.named.has(peer)) return false;
    outbox.forget("peer_gone");
    this.outboxes.delete(peer);
    return true;
  }

  /** Queue `item` for `peer`; dial it if it has no connection yet. */
  deliver(peer, item) {
    const outbox = this.#outbox(peer);
    outbox.put(item);
    if (outbox.conn === null && !this.closed && this.options.dial && peer !== this.options.id) {
      if (this.peering.mayDial(peer)) {
        this.metrics.dials.add("started");
        this.peering.dial(peer);
      }
    }
  }

  // -- the router's actions ---------------------------------------------------

  #handle(event) {
    const arrived = this.now();
    let sized = null; // one message's size, shared by its destinations
    for (const action of this.router.handle(event)) {
      switch (action.type) {
        case "send": {
          if (sized === null || sized[0] !== action.data) sized = [action.data, safeSize(action.data)];
          this.deliver(action.peer, { value: action.data, route: this.router.stats(action.route), arrived, size: sized[1] });
          break;
        }
        case "mux":
          this.lanes.get(action.route)?.add(action.src, action.data);
          break;
        case "publish":
          this.#publish(action, arrived);
          break;
        case "subscribe":
          this.#subscribe(action.peer, action.subject);
          break;
        case "unsubscribe":
          this.#unsubscribe(action.peer, action.subject);
          break;
        case "refuse":
          this.#note("warn", `${action.route}: no bridge for ${action.peer}: ${action.detail}`);
          break;
        case "drop":
          if (action.detail) this.#note("info", `${action.route}: ${action.detail}`);
          break;
        default:
          break;
      }
    }
  }

  #publish(action, arrived) {
    const stats = this.router.stats(action.route);
    if (isBinary(action.data)) {
      stats.dropped.add("unserializable"); // the hub's frames are JSON
      return;
    }
    this.hub.publish(action.subject, action.data, { published: action.published ?? undefined }).then(
      () => {
        stats.messagesOut += 1;
        stats.latency.recordMs(this.now() - arrived);
      },
      (error) => {
        if (error instanceof TypeError) stats.dropped.add("unserializable");
        else stats.dropped.add("hub_queue_full");
      },
    );
  }

  #subscribe(peer, subject) {
    const key = `${peer}\0${subject}`;
    const entry = { sub: null };
    this.bridges.set(key, entry);
    this.hub.subscribe(subject, { last: true }).then(
      (sub) => {
        if (this.bridges.get(key) !== entry) {
          sub.unsubscribe().catch(() => {}); // the peer left meanwhile
          return;
        }
        entry.sub = sub;
        sub.on("message", (message) => this.#guard(() => this.#handle({ type: "hub", peer, subject, message })));
      },
      (error) => this.#note("warn", `cannot subscribe ${peer} to ${subject}: ${error?.message ?? error}`),
    );
  }

  #unsubscribe(peer, subject) {
    const key = `${peer}\0${subject}`;
    const entry = this.bridges.get(key);
    this.bridges.delete(key);
    // One still being made sees it is no longer wanted and undoes itself.
    entry?.sub?.unsubscribe().catch(() => {});
  }

  // -- introspection ----------------------------------------------------------

  /** Ids of the peers with an open connection, sorted. */
  get peers() {
    return [...this.links.keys()].sort();
  }

  /** Plain JSON: what window.earlgateGateway.stats() returns (docs/gateway.md). */
  stats() {
    const routes = {};
    for (const [name, stats] of this.metrics.routes) routes[name] = routeSummary(stats);
    const queues = {};
    for (const [peer, box] of this.outboxes) {
      queues[peer] = { queued: box.queue.length, sent: box.sent, dropped: box.dropped, failed: box.failed, connected: box.conn !== null };
    }
    const links = {};
    for (const [peer, conns] of this.links) links[peer] = conns.length;
    return {
      id: this.options.id,
      registered: this.peering.registered,
      signaling: this.signaling,
      hub: this.hub ? this.hub.state : null,
      received: this.metrics.received,
      unrouted: this.metrics.unrouted,
      peers: this.peers,
      links,
      routes,
      queues,
      connections: { opened: this.metrics.connectionsOpened, closed: this.metrics.connectionsClosed },
      dials: this.metrics.dials.toJSON(),
      errors: this.errors,
    };
  }

  /** Flush the mux windows, then close the connections and the hub. */
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const lane of this.lanes.values()) lane.close();
    for (const box of this.outboxes.values()) box.drain();
    this.peering.close();
    this.hub?.close();
  }
}
