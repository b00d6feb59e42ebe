// The gateway's routing as a state machine, events in, actions out: the
// browser twin of earlgate.gateway.router.Router, making the same decisions
// (tests/gateway/vectors/router.json runs against both). No sockets, no
// timers; the page feeds it what happened and carries out what it returns.
//
// Events (their JSON form):            Actions:
//   {type:"joined", peer}               subscribe {peer, subject, route}, refuse {route, peer}
//   {type:"left", peer}                 unsubscribe {peer, subject}
//   {type:"message", peer, data}        send {peer, data, route}, mux {route, src, data},
//                                       publish {subject, data, published, route},
//                                       drop {reason: unrouted|malformed|no_destination, route, peer}
//   {type:"hub", peer, subject, message}  send to that peer
//
// Drop and refuse carry a `detail` for the log, which is not part of the JSON form.
import { Demultiplexer, isAggregate } from "./aggregate.js";
import { fnmatch, isGlob } from "./routes.js";
import { GatewayMetrics } from "./stats.js";

/** An event's JSON form is wrong; the message says how. */
export class RouterError extends Error {
  constructor(message) {
    super(message);
    this.name = "RouterError";
  }
}

const EVENT_FIELDS = {
  joined: ["peer"],
  left: ["peer"],
  message: ["peer", "data"],
  hub: ["peer", "subject", "message"],
};
const TEXT_FIELDS = ["peer", "subject"];

/** Check an event's JSON form, e.g. {type: "message", peer: "a", data: 1}; returns it. */
export function checkEvent(value) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new RouterError("an event is an object with a 'type'");
  }
  const names = Object.hasOwn(EVENT_FIELDS, value.type) ? EVENT_FIELDS[value.type] : null;
  if (!names) throw new RouterError(`event type must be one of ${Object.keys(EVENT_FIELDS).join(", ")}`);
  const keys = Object.keys(value);
  if (keys.length !== names.length + 1 || !names.every((name) => keys.includes(name))) {
    throw new RouterError(`a '${value.type}' event has exactly the keys type, ${names.join(", ")}`);
  }
  for (const name of TEXT_FIELDS) {
    if (names.includes(name) && typeof value[name] !== "string") {
      throw new RouterError(`a '${value.type}' event's '${name}' must be a string`);
    }
  }
  return value;
}

/** An action as the test vectors write it (the log's `detail` left out). */
export function actionToJson(action) {
  const { detail, ...rest } = action;
  return rest;
}

function publishedOf(value) {
  const ts = typeof value === "object" && value !== null && !Array.isArray(value) ? value.ts : undefined;
  return typeof ts === "number" ? ts : null;
}

/**
 * Applies the routes to the gateway's events.
 *
 * @param routes the rules (bridges only if there is a hub to bridge to)
 * @param options.metrics where the router counts; options.timer the demultiplexers' clock (s)
 */
export class Router {
  constructor(routes, { metrics = new GatewayMetrics(), timer } = {}) {
    this.routes = routes;
    this.metrics = metrics;
    this.timer = timer;
    // Destinations the routes name (not globs): their queues outlive their connections.
    this.named = routes.namedDestinations();
    this.plans = new Map(); // the joined peers, in the order they joined
    this.subscribed = new Map(); // peer -> Map(subject -> route)
    this.demuxers = new Map(); // `${route}\0${source}` -> Demultiplexer
    this.globs = new Map(); // `${glob}\0${source}` -> peers
  }

  /** The joined peers, in the order they joined. */
  get peers() {
    return [...this.plans.keys()];
  }

  stats(route) {
    return this.metrics.route(route);
  }

  /** What to do about `event` (its JSON form). */
  handle(event) {
    switch (event.type) {
      case "message":
        return this.#message(event.peer, event.data);
      case "hub":
        return this.#hub(event.peer, event.subject, event.message);
      case "joined":
        return this.#join(event.peer);
      case "left":
        return this.#leave(event.peer);
      default:
        throw new RouterError(`event type must be one of ${Object.keys(EVENT_FIELDS).join(", ")}`);
    }
  }

  #join(peer) {
    if (this.plans.has(peer)) return [];
    const plan = this.routes.forSource(peer);
    this.plans.set(peer, plan);
    this.globs.clear();
    const actions = [];
    for (const refusal of plan.refused) {
      this.stats(refusal.route).refused += 1;
      actions.push({ type: "refuse", route: refusal.route, peer, detail: refusal.reason });
    }
    this.subscribed.set(peer, new Map(plan.subscribe));
    for (const [subject, route] of plan.subscribe) actions.push({ type: "subscribe", peer, subject, route });
    return actions;
  }

  #leave(peer) {
    if (!this.plans.delete(peer)) return [];
    this.globs.clear();
    // A demultiplexer's sequence accounting is per connection: an upstream
    // multiplexer that restarts counts from 0 again.
    for (const key of [...this.demuxers.keys()]) if (key.split("\0")[1] === peer) this.demuxers.delete(key);
    const subjects = this.subscribed.get(peer) ?? new Map();
    this.subscribed.delete(peer);
    return [...subjects.keys()].map((subject) => ({ type: "unsubscribe", peer, subject }));
  }

  #hub(peer, subject, message) {
    const route = this.subscribed.get(peer)?.get(subject);
    if (route === undefined) return []; // the peer left or never had it: a late message
    this.stats(route).messagesIn += 1;
    return [{ type: "send", peer, data: message, route }];
  }

  #message(source, value) {
    this.metrics.received += 1;
    // A peer that has not joined is routed all the same; its plan is not kept.
    const plan = this.plans.get(source) ?? this.routes.forSource(source);
    if (plan.demux !== null && isAggregate(value)) return this.#demux(source, value, plan.demux, this.plans.has(source));
    const actions = [];
    for (const { rule, targets } of plan.forwards) {
      this.stats(rule.name).messagesIn += 1;
      for (const target of targets) {
        for (const peer of this.#resolve(target, source)) actions.push({ type: "send", peer, data: value, route: rule.name });
      }
    }
    for (const mux of plan.muxInto) {
      this.stats(mux.name).messagesIn += 1;
      actions.push({ type: "mux", route: mux.name, src: source, data: value });
    }
    if (plan.publish !== null && plan.publishRoute !== null) {
      this.stats(plan.publishRoute).messagesIn += 1;
      actions.push({
        type: "publish",
        subject: plan.publish,
        data: value,
        published: publishedOf(value),
        route: plan.publishRoute,
      });
    }
    if (!(plan.forwards.length || plan.muxInto.length || plan.publish)) {
      this.metrics.unrouted += 1;
      actions.push({ type: "drop", reason: "unrouted", route: null, peer: source });
    }
    return actions;
  }

  /** A forward destination: an id, or a glob over the joined peers but the source. */
  #resolve(target, source) {
    if (!isGlob(target)) return [target];
    const key = `${target}\0${source}`;
    let found = this.globs.get(key);
    if (!found) {
      found = this.peers.filter((peer) => peer !== source && fnmatch(peer, target));
      this.globs.set(key, found);
    }
    return found;
  }

  #demux(source, value, rule, joined) {
    const stats = this.stats(rule.name);
    stats.messagesIn += 1;
    const key = `${rule.name}\0${source}`;
    let demuxer = this.demuxers.get(key);
    if (!demuxer) {
      demuxer = new Demultiplexer(this.timer ? { timer: this.timer } : {});
      if (joined) this.demuxers.set(key, demuxer);
    }
    const before = demuxer.totals();
    let parts;
    try {
      parts = demuxer.split(value);
    } catch (error) {
      stats.dropped.add("malformed");
      return [{ type: "drop", reason: "malformed", route: rule.name, peer: source, detail: `bad aggregate from ${source}: ${error.message}` }];
    }
    const after = demuxer.totals();
    stats.lost += after.lost - before.lost;
    stats.duplicates += after.duplicates - before.duplicates;
    stats.processing.recordMs(demuxer.lastSplitS * 1000);
    const actions = [];
    for (const part of parts) {
      const targets = part.dst !== null ? [part.dst] : rule.to;
      if (!targets.length) {
        stats.dropped.add("no_destination");
        actions.push({ type: "drop", reason: "no_destination", route: rule.name, peer: source });
      }
      for (const target of targets) actions.push({ type: "send", peer: target, data: part.data, route: rule.name });
    }
    return actions;
  }
}
