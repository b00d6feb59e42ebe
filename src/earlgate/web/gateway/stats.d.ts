// Types of stats.js: the gateway page's counters and its latency histogram.

export const BUCKETS: number;
export function bucketOf(us: number): number;
export function bucketBounds(index: number): [number, number];

export interface Summary { count: number; mean: number; p50: number; p99: number; max: number }

export class Histogram {
  readonly total: number;
  readonly maxUs: number;
  recordMs(ms: number): void;
  percentileMs(fraction: number): number;
  summaryMs(): Summary;
  reset(): void;
}

export class Counter {
  add(reason: string, n?: number): void;
  get(reason: string): number;
  readonly total: number;
  toJSON(): Record<string, number>;
}

export class RouteStats {
  constructor(name: string, kind?: string);
  readonly name: string;
  readonly kind: string;
  messagesIn: number;
  messagesOut: number;
  bytesOut: number;
  partsOut: number;
  lost: number;
  duplicates: number;
  refused: number;
  readonly dropped: Counter;
  readonly latency: Histogram;
  readonly processing: Histogram;
  handedOver(size: number, ms: number): void;
}

export class GatewayMetrics {
  readonly routes: Map<string, RouteStats>;
  received: number;
  unrouted: number;
  connectionsOpened: number;
  connectionsClosed: number;
  readonly dials: Counter;
  route(name: string, kind?: string): RouteStats;
}

export class RateMeter {
  constructor(span?: number, keep?: number);
  sample(now: number, count: number): void;
  rate(): number;
}

/** A route's entry of window.earlgateGateway.stats().routes. */
export interface RouteSummary {
  kind: string;
  messages: number;
  bytes: number;
  dropped: number;
  latency_ms: { p50: number; p99: number; mean: number; max: number; count: number };
  in: number;
  out: number;
  parts_out: number;
  lost: number;
  duplicates: number;
  refused: number;
  dropped_by: Record<string, number>;
  processing_ms: Summary;
}
export function routeSummary(stats: RouteStats): RouteSummary;
