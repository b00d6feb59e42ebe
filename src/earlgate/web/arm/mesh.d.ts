// Types of mesh.js: one member of the arm-probe mesh.

export const DELAYS_KEPT: number;
export const RECENT: number;

export interface Reading { src: string; seq: number; ts: number; v: [number, number, number]; pad: string }

export function peerId(prefix: string, index: number): string;
export function dialTargets(prefix: string, index: number): string[];
export function others(prefix: string, peers: number, index: number): string[];
/** `size` characters of JSON on the wire (message_for in earlgate.gateway.mesh). */
export function messageFor(src: string, seq: number, size: number, nowMs: number): Reading;
export function isReading(value: unknown): boolean;
export function percentile(values: number[], fraction: number): number | null;

export interface PeerFigures {
  received: number;
  last_ms: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  lost: number;
  v: number[] | null;
}

/** What countWindow counts: sends in [start_ms, end_ms), readings stamped in it. */
export interface WindowFigures {
  start_ms: number;
  end_ms: number;
  sent: number;
  received: number;
  delays_ms: number[];
}

/** window.earlgateArm.stats(), less what the page adds (connected, ...). */
export interface MemberJSON {
  id: string;
  sent: number;
  seq: number;
  received: Record<string, number>;
  delays_ms: number[];
  ignored: number;
  per_peer: Record<string, PeerFigures>;
  window: WindowFigures | null;
}

export class MemberStats {
  constructor(id: string);
  sent: number;
  seq: number;
  readonly received: Map<string, number>;
  readonly delays: number[];
  /** Count sends and readings of [startMs, endMs) apart; RangeError unless start < end. */
  countWindow(startMs: number, endMs: number): void;
  /** `count` messages sent at `nowMs` (the window counts them when it holds nowMs). */
  onSent(count: number, nowMs: number): void;
  onMessage(peer: string, value: unknown, nowMs: number): number | null;
  toJSON(): MemberJSON;
}
