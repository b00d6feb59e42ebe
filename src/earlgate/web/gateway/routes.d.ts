// Types of routes.js: the gateway's routes document (docs/gateway.md, "The routes file").

export const KINDS: readonly ["forward", "mux", "demux", "bridge"];
export const PEER: "{peer}";
/** Nesting a document may have before it is refused as "not valid TOML: nested too deeply". */
export const MAX_DEPTH: number;

/** The routes document is wrong; the message names the table, its index and the key. */
export class RoutesError extends Error {}
/** A peer id cannot fill a bridge's template. */
export class PeerIdError extends Error {}

export interface Forward { name: string; sources: string[]; to: string[] }
export interface Mux { name: string; sources: string[]; to: string; window: number | null }
export interface Demux { name: string; sources: string[]; to: string[] }
export interface Bridge { name: string; peers: string[]; publish: string | null; subscribe: string | null }
export interface Refusal { route: string; peer: string; reason: string }

/** Which rules apply to one peer. */
export interface Plan {
  forwards: { rule: Forward; targets: string[] }[];
  muxInto: Mux[];
  demux: Demux | null;
  publish: string | null;
  publishRoute: string | null;
  /** [subject, route], one per subject. */
  subscribe: [string, string][];
  refused: Refusal[];
}

export class Routes {
  forwards: Forward[];
  muxes: Mux[];
  demuxes: Demux[];
  bridges: Bridge[];
  forSource(peer: string): Plan;
  namedDestinations(): Set<string>;
  readonly size: number;
}

/** Parse and check TOML text (throws RoutesError). */
export function loadsRoutes(text: string): Routes;
/** Check a parsed document: TOML's or JSON's (throws RoutesError). */
export function parseRoutes(data: unknown): Routes;
/** Python's fnmatch.fnmatchcase. */
export function fnmatch(name: string, pattern: string): boolean;
export function globRegExp(pattern: string): RegExp;
export function isGlob(name: string): boolean;
export function expand(template: string, peer: string, check: (subject: string) => unknown): string;
export function bridgeSubjects(rule: Bridge, peer: string): [string | null, string | null];
/** A string as Python's repr() writes it. */
export function pyRepr(text: string): string;
