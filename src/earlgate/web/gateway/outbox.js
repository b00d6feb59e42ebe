// One bounded queue per destination, so a slow peer never holds up another:
// the browser twin of earlgate.gateway.outbox.
//
// RTCDataChannel.send() never blocks: what SCTP cannot send yet waits in the
// channel and shows as bufferedAmount, without limit (and PeerJS keeps its own
// buffer past 8 MB). The gateway hands a message to a destination's channel
// only while its buffered bytes are under a high-water mark; past it, messages
// wait in the destination's own queue of at most `limit`, the oldest dropped
// (and counted) first, and the queue drains when the channel says
// bufferedamountlow (W3C WebRTC 6.2: "fire an event named bufferedamountlow"
// once the amount falls to bufferedAmountLowThreshold). Pure: the channel is
// anything with {open, bufferedAmount, send(value)}, the clock is injected.

/** A queue of at most `limit` items, oldest first, O(1) at both ends. */
export class BoundedQueue {
  constructor() {
    this.items = [];
    this.head = 0;
  }

  get length() {
    return this.items.length - this.head;
  }

  push(item) {
    this.items.push(item);
  }

  shift() {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  *[Symbol.iterator]() {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i];
  }

  clear() {
    this.items = [];
    this.head = 0;
  }
}

/**
 * The messages waiting for one destination peer. An item is
 * {value, route: RouteStats, arrived: ms on the injected clock, size: bytes}.
 */
export class Outbox {
  constructor(peer, { limit = 1000, highWater = 256 * 1024, now = () => performance.now() } = {}) {
    if (!(limit >= 1) || !(highWater >= 1)) throw new RangeError("outbox limit and high-water must be >= 1");
    this.peer = peer;
    this.limit = limit;
    this.highWater = highWater;
    this.now = now;
    this.conn = null;
    this.queue = new BoundedQueue();
    this.sent = 0;
    this.dropped = 0; // oldest messages dropped because the queue was full
    this.failed = 0; // messages the channel refused (too big, wrong type, closing)
  }

  /** The bufferedAmountLowThreshold that wakes this queue: half the high-water mark. */
  get lowWater() {
    return Math.floor(this.highWater / 2);
  }

  get writable() {
    const conn = this.conn;
    return conn !== null && conn.open && conn.bufferedAmount < this.highWater;
  }

  /** Send through `conn` from now on (the destination's newest open connection). */
  attach(conn) {
    this.conn = conn;
    this.drain();
  }

  detach(conn) {
    if (this.conn === conn) this.conn = null;
  }

  /** Send now if the channel has room, else queue (dropping the oldest when full). */
  put(item) {
    if (this.queue.length && this.writable) this.drain();
    if (!this.queue.length && this.writable) {
      this.#send(item);
      return;
    }
    if (this.queue.length >= this.limit) {
      const old = this.queue.shift();
      old.route.dropped.add("queue_full");
      this.dropped += 1;
    }
    this.queue.push(item);
  }

  /** Send queued messages while the channel has room; returns how many went. */
  drain() {
    let sent = 0;
    while (this.queue.length && this.writable) {
      this.#send(this.queue.shift());
      sent += 1;
    }
    return sent;
  }

  /** Give up on what is queued (the peer is gone for good), counting it per route. */
  forget(reason = "peer_gone") {
    for (const item of this.queue) item.route.dropped.add(reason);
    const count = this.queue.length;
    this.queue.clear();
    return count;
  }

  #send(item) {
    try {
      this.conn.send(item.value);
    } catch {
      // Too big for the serialization, a type it cannot carry, or closing.
      item.route.dropped.add("send_failed");
      this.failed += 1;
      return;
    }
    this.sent += 1;
    item.route.handedOver(item.size, this.now() - item.arrived);
  }
}
