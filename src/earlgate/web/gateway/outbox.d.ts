// Types of outbox.js: one bounded queue per destination with bufferedAmount back-pressure.
import type { RouteStats } from "./stats.js";

/** What the outbox sends through: a PeerJS DataConnection seen as {open, bufferedAmount, send}. */
export interface Channel {
  readonly open: boolean;
  readonly bufferedAmount: number;
  send(value: unknown): void;
}

export interface Item { value: unknown; route: RouteStats; arrived: number; size: number }

export class BoundedQueue<T> implements Iterable<T> {
  readonly length: number;
  push(item: T): void;
  shift(): T | undefined;
  clear(): void;
  [Symbol.iterator](): Iterator<T>;
}

export class Outbox {
  constructor(peer: string, options?: { limit?: number; highWater?: number; now?: () => number });
  readonly peer: string;
  readonly limit: number;
  readonly highWater: number;
  /** The bufferedAmountLowThreshold to set on the channel. */
  readonly lowWater: number;
  readonly conn: Channel | null;
  readonly queue: BoundedQueue<Item>;
  readonly sent: number;
  readonly dropped: number;
  readonly failed: number;
  readonly writable: boolean;
  attach(conn: Channel): void;
  detach(conn: Channel): void;
  put(item: Item): void;
  drain(): number;
  forget(reason?: string): number;
}
