// What the gateway page counts, per route: plain numbers and histograms, no I/O.
// The same counters as earlgate.gateway.stats (RouteStats, GatewayMetrics), and
// the same log-linear histogram as earlgate.metrics.histogram, here in
// microseconds (a browser's performance.now() is no finer): each octave
// [2^k, 2^(k+1)) is split into four sub-buckets, so a percentile read from it
// is within ~12% of the truth.

const SUB_BUCKETS = 4;
const SUB_BITS = 2;
const LINEAR = 8; // values below this get a bucket each
const SHIFT = 3; // first octave split into sub-buckets
const MAX_OCTAVE = 36; // 2^36 us ~ 19 hours
export const BUCKETS = LINEAR + (MAX_OCTAVE - SHIFT + 1) * SUB_BUCKETS;

/** The bucket index of a duration in whole microseconds. */
export function bucketOf(us) {
  if (!(us >= LINEAR)) return us > 0 ? Math.floor(us) : 0;
  const octave = Math.floor(Math.log2(us));
  if (octave > MAX_OCTAVE) return BUCKETS - 1;
  const sub = Math.floor(us / 2 ** (octave - SUB_BITS)) & (SUB_BUCKETS - 1);
  return LINEAR + (octave - SHIFT) * SUB_BUCKETS + sub;
}

/** The [low, high) microseconds of a bucket. */
export function bucketBounds(index) {
  if (index < LINEAR) return [index, index + 1];
  const octave = Math.floor((index - LINEAR) / SUB_BUCKETS) + SHIFT;
  const sub = (index - LINEAR) % SUB_BUCKETS;
  const width = 2 ** (octave - SUB_BITS);
  const low = 2 ** octave + sub * width;
  return [low, low + width];
}

/** Counts of durations per bucket, with their sum and maximum. */
export class Histogram {
  constructor() {
    this.counts = new Float64Array(BUCKETS);
    this.total = 0;
    this.sumUs = 0;
    this.maxUs = 0;
  }

  /** Record a duration in milliseconds. */
  recordMs(ms) {
    const us = Math.max(0, Math.round(ms * 1000));
    this.counts[bucketOf(us)] += 1;
    this.total += 1;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** The value below which `fraction` of the samples lie, in ms (0 when empty). */
  percentileMs(fraction) {
    if (!this.total) return 0;
    const rank = fraction * this.total;
    let seen = 0;
    for (let index = 0; index < BUCKETS; index++) {
      const count = this.counts[index];
      if (count && seen + count >= rank) {
        let [low, high] = bucketBounds(index);
        high = Math.min(high, this.maxUs + 1);
        low = Math.min(low, high);
        return (low + ((high - low) * Math.max(rank - seen, 0)) / count) / 1000;
      }
      seen += count;
    }
    return this.maxUs / 1000;
  }

  /** Count, mean, p50, p99 and max in ms, rounded as the Python gateway's summary_ms. */
  summaryMs() {
    const round = (x) => Math.round(x * 1e4) / 1e4;
    return {
      count: this.total,
      mean: round(this.total ? this.sumUs / this.total / 1000 : 0),
      p50: round(this.percentileMs(0.5)),
      p99: round(this.percentileMs(0.99)),
      max: round(this.maxUs / 1000),
    };
  }

  reset() {
    this.counts.fill(0);
    this.total = this.sumUs = this.maxUs = 0;
  }
}

/** Counts per reason (a Python Counter). */
export class Counter {
  constructor() {
    this.counts = Object.create(null);
  }

  add(reason, n = 1) {
    this.counts[reason] = (this.counts[reason] ?? 0) + n;
  }

  get(reason) {
    return this.counts[reason] ?? 0;
  }

  get total() {
    let sum = 0;
    for (const n of Object.values(this.counts)) sum += n;
    return sum;
  }

  toJSON() {
    return { ...this.counts };
  }
}

/**
 * One route's counters. `messagesIn`: messages the route took (an aggregate
 * counts once for a demux); `messagesOut`: handed to a DataChannel or the hub
 * (a mux counts aggregates, `partsOut` their parts); `bytesOut`: their JSON
 * size; `latency`: arrival at the gateway to hand-over (a mux: from its oldest
 * part's arrival); `processing`: building (mux) or splitting (demux) one aggregate.
 */
export class RouteStats {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind ?? name.split("#")[0];
    this.messagesIn = 0;
    this.messagesOut = 0;
    this.bytesOut = 0;
    this.partsOut = 0;
    this.lost = 0;
    this.duplicates = 0;
    this.refused = 0;
    this.dropped = new Counter();
    this.latency = new Histogram();
    this.processing = new Histogram();
  }

  /** One message handed over: `size` bytes, `ms` after it arrived. */
  handedOver(size, ms) {
    this.messagesOut += 1;
    this.bytesOut += size;
    this.latency.recordMs(ms);
  }
}

export class GatewayMetrics {
  constructor() {
    this.routes = new Map();
    this.received = 0; // messages from peers, all routes
    this.unrouted = 0; // messages from peers no route takes
    this.connectionsOpened = 0;
    this.connectionsClosed = 0;
    this.dials = new Counter(); // by result
  }

  /** The counters of route `name` ("forward#1"), made on first use. */
  route(name, kind) {
    let stats = this.routes.get(name);
    if (!stats) this.routes.set(name, (stats = new RouteStats(name, kind)));
    return stats;
  }
}

/**
 * Messages per second over the last `span` ms, from cumulative counts sampled
 * now and then (the status view samples once a second; a throttled tab less).
 */
export class RateMeter {
  constructor(span = 5000, keep = 120) {
    this.span = span;
    this.keep = keep;
    this.samples = []; // [t_ms, count]
  }

  sample(now, count) {
    this.samples.push([now, count]);
    if (this.samples.length > this.keep) this.samples.shift();
  }

  /** The rate over the newest `span` ms (0 with fewer than two samples). */
  rate() {
    const last = this.samples[this.samples.length - 1];
    if (!last) return 0;
    let first = last;
    for (let i = this.samples.length - 2; i >= 0; i--) {
      first = this.samples[i];
      if (last[0] - first[0] >= this.span) break;
    }
    const dt = last[0] - first[0];
    return dt > 0 ? ((last[1] - first[1]) * 1000) / dt : 0;
  }
}

/** A route's part of window.earlgateGateway.stats() (contract: messages, bytes, dropped, latency_ms). */
export function routeSummary(stats) {
  const latency = stats.latency.summaryMs();
  return {
    kind: stats.kind,
    messages: stats.messagesOut,
    bytes: stats.bytesOut,
    dropped: stats.dropped.total,
    latency_ms: { p50: latency.p50, p99: latency.p99, mean: latency.mean, max: latency.max, count: latency.count },
    in: stats.messagesIn,
    out: stats.messagesOut,
    parts_out: stats.partsOut,
    lost: stats.lost,
    duplicates: stats.duplicates,
    refused: stats.refused,
    dropped_by: stats.dropped.toJSON(),
    processing_ms: stats.processing.summaryMs(),
  };
}
