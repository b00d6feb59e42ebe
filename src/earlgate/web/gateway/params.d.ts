// Types of params.js: the gateway page's URL parameters.

/** A URL parameter is wrong; the message names it. */
export class ParamError extends Error {}

export const SERIALIZATIONS: readonly ["binary", "json", "raw"];
export const PEER_ID: RegExp;
export const MAX_HIGH_WATER: number;
export const GATEWAY_PARAMS: readonly string[];
export const DEFAULTS: Readonly<{
  muxWindow: number;
  muxMaxBytes: number;
  muxMaxParts: number;
  queueLimit: number;
  highWater: number;
  serialization: string;
  connectTimeout: number;
}>;

/** Where the signaling server is, as PeerJS's options want it. */
export interface SignalServer { host: string; port: number; path: string; secure: boolean }
export interface IceServer { urls: string | string[]; username?: string; credential?: string }

export interface Peering {
  signal: SignalServer;
  key: string;
  ice: IceServer[];
  relayOnly: boolean;
}

export interface GatewayParams extends Peering {
  id: string;
  /** The routes document's URL, absolute; null: none (paste or upload one). */
  routes: string | null;
  hub: string | null;
  hubToken: string | null;
  /** Seconds. */
  muxWindow: number;
  muxMaxBytes: number;
  muxMaxParts: number;
  queueLimit: number;
  highWater: number;
  /** Seconds. */
  connectTimeout: number;
  dial: boolean;
  serialization: "binary" | "json" | "raw";
}

export function checkKnown(params: URLSearchParams, known: readonly string[]): void;
export function number(
  params: URLSearchParams,
  name: string,
  fallback: number,
  options?: { integer?: boolean; min?: number; exclusive?: boolean; max?: number },
): number;
export function flag(params: URLSearchParams, name: string, fallback: boolean): boolean;
export function signalServer(text: string | null | undefined, origin: string): SignalServer;
export function iceServers(params: URLSearchParams): IceServer[];
export function peeringParams(params: URLSearchParams, origin: string): Peering;
/** Throws ParamError naming the parameter. */
export function parseParams(search: string | URLSearchParams, origin: string): GatewayParams;
