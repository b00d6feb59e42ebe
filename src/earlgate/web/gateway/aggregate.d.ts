// Types of aggregate.js: aggregate format v1 (docs/gateway.md) and the pure Multiplexer/Demultiplexer.

export const VERSION: 1;
export const PART_OVERHEAD: number;

export interface Part { src: string; seq: number; ts: number; data: unknown; dst?: string | null }
export interface Aggregate { mux: 1; parts: Part[] }
export interface Batch { message: Aggregate; parts: number; heldS: number; buildS: number }
export interface SourceCounters { received: number; lost: number; duplicates: number; nextSeq: number }

export class AggregateError extends Error {}
export function encode(parts: Part[]): Aggregate;
export function isAggregate(message: unknown): boolean;
/** Throws AggregateError naming the first fault. */
export function decode(message: unknown): Part[];
/** Bytes of binary, else of the JSON in UTF-8 (throws TypeError when JSON cannot carry it). */
export function sizeOf(value: unknown): number;

export interface MultiplexerOptions {
  /** Seconds (default 0.25). */
  window?: number;
  maxParts?: number;
  maxBytes?: number;
  /** Seconds, for the window. */
  clock?: () => number;
  /** Seconds, for the build time. */
  timer?: () => number;
  /** ms since the epoch, for parts without a ts. */
  nowMs?: () => number;
}

export class Multiplexer {
  constructor(options?: MultiplexerOptions);
  add(src: string, data: unknown, options?: { ts?: number | null; dst?: string | null; size?: number | null }): Batch | null;
  deadline(): number | null;
  poll(): Batch | null;
  flush(): Batch | null;
  readonly buffered: number;
}

export class Demultiplexer {
  constructor(options?: { timer?: () => number });
  readonly sources: Map<string, SourceCounters>;
  readonly lastSplitS: number;
  split(message: unknown): Part[];
  totals(): { lost: number; duplicates: number };
}
