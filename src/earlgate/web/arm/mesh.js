// The arm-probe mesh, in the browser: the bookkeeping of one member, the same
// as earlgate.gateway.mesh (thesis 3.1.2). Pure: clocks are passed in.
//
// - Peer ids are `${mesh}-${i}` for i in 0..n-1; peer i dials every lower index
//   and waits for the higher ones to dial it, so browser pages and `earlgate
//   mesh` peers with the same prefix and n form one mesh.
// - Every peer sends a vibration reading ({src, seq, ts, v: [x, y, z], pad},
//   `size` characters of JSON) at `rate` Hz to every other; `ts` is the
//   sender's clock in ms since the epoch, so a receiver on the same host (or
//   with a synchronised clock) measures the one-way delay.

// Delays kept for stats() (the newest): a 60 s step of a 10-peer mesh is 2,160.
export const DELAYS_KEPT = 50_000;
// Delays per peer kept for the live view (the newest).
export const RECENT = 120;

/** The id of member `index` of mesh `prefix` (MeshOptions.peer_id). */
export function peerId(prefix, index) {
  return `${prefix}-${index}`;
}

/** The ids member `index` dials: every lower index. */
export function dialTargets(prefix, index) {
  return Array.from({ length: index }, (_, j) => peerId(prefix, j));
}

/** Every other member's id. */
export function others(prefix, peers, index) {
  return Array.from({ length: peers }, (_, j) => j).filter((j) => j !== index).map((j) => peerId(prefix, j));
}

/** A number as Python's round(x, 4). */
function round4(x) {
  return Math.round(x * 1e4) / 1e4;
}

/**
 * A vibration reading padded to `size` characters of JSON as it goes on the
 * wire (message_for in earlgate.gateway.mesh: the same fields and values).
 */
export function messageFor(src, seq, size, nowMs) {
  const phase = seq / 4;
  const message = { src, seq, ts: nowMs, v: [round4(Math.sin(phase)), round4(Math.cos(phase)), 9.81], pad: "" };
  message.pad = "~".repeat(Math.max(0, size - JSON.stringify(message).length));
  return message;
}

/** Whether `value` is a mesh message a receiver counts (a dict with a numeric ts). */
export function isReading(value) {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    typeof value.ts === "number" &&
    Number.isFinite(value.ts)
  );
}

/** Nearest-rank percentile of `values` (sorted copy). */
export function percentile(values, fraction) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank];
}

/** What one member sent and received, per peer, with the delays. */
export class MemberStats {
  constructor(id) {
    this.id = id;
    this.sent = 0;
    this.seq = 0;
    this.received = new Map(); // peer -> count
    this.peers = new Map(); // peer -> {recent: delays, last, lastSeq, lost, v}
    this.delays = []; // every delay (ms), the newest DELAYS_KEPT
    this.ignored = 0; // messages that were not readings
    this.window = null; // {start, end, sent, received, delays}: see countWindow
  }

  /**
   * Count apart what is sent from `startMs` to `endMs` (epoch ms) and the
   * readings received whose `ts` falls in it, whenever they arrive: the
   * measuring window of a bench, the same rule earlgate mesh counts by, so
   * that every member's sent and received add up across the mesh.
   */
  countWindow(startMs, endMs) {
    if (!(Number.isFinite(startMs) && Number.isFinite(endMs) && startMs < endMs)) {
      throw new RangeError(`a counting window needs start < end (epoch ms), got ${startMs}, ${endMs}`);
    }
    this.window = { start: startMs, end: endMs, sent: 0, received: 0, delays: [] };
  }

  /** `count` messages were sent at `nowMs`. */
  onSent(count, nowMs) {
    this.sent += count;
    const w = this.window;
    if (w && nowMs >= w.start && nowMs < w.end) w.sent += count;
  }

  /** A message from `peer`, arrived at `nowMs`; its delay in ms, or null. */
  onMessage(peer, value, nowMs) {
    if (!isReading(value)) {
      this.ignored += 1;
      return null;
    }
    const delay = nowMs - value.ts;
    const w = this.window;
    if (w && value.ts >= w.start && value.ts < w.end) {
      w.received += 1;
      if (w.delays.length < DELAYS_KEPT) w.delays.push(delay);
    }
    this.received.set(peer, (this.received.get(peer) ?? 0) + 1);
    this.delays.push(delay);
    if (this.delays.length > DELAYS_KEPT) this.delays.splice(0, this.delays.length - DELAYS_KEPT);
    let entry = this.peers.get(peer);
    if (!entry) this.peers.set(peer, (entry = { recent: [], last: null, lastSeq: null, lost: 0, v: null }));
    entry.recent.push(delay);
    if (entry.recent.length > RECENT) entry.recent.shift();
    entry.last = delay;
    if (Number.isInteger(value.seq)) {
      if (entry.lastSeq !== null && value.seq > entry.lastSeq + 1) entry.lost += value.seq - entry.lastSeq - 1;
      if (entry.lastSeq === null || value.seq > entry.lastSeq) entry.lastSeq = value.seq;
    }
    if (Array.isArray(value.v)) entry.v = value.v;
    return delay;
  }

  /** Plain JSON, as window.earlgateArm.stats() returns it. */
  toJSON() {
    const perPeer = {};
    for (const [peer, entry] of this.peers) {
      perPeer[peer] = {
        received: this.received.get(peer) ?? 0,
        last_ms: entry.last,
        p50_ms: percentile(entry.recent, 0.5),
        p99_ms: percentile(entry.recent, 0.99),
        lost: entry.lost,
        v: entry.v,
      };
    }
    return {
      id: this.id,
      sent: this.sent,
      seq: this.seq,
      received: Object.fromEntries(this.received),
      delays_ms: [...this.delays],
      ignored: this.ignored,
      window: this.window && {
        start_ms: this.window.start,
        end_ms: this.window.end,
        sent: this.window.sent,
        received: this.window.received,
        delays_ms: [...this.window.delays],
      },
      per_peer: perPeer,
    };
  }
}
