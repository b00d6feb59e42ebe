// Types of router.js: the gateway's routing state machine (the JSON forms of
// tests/gateway/vectors/router.json).
import type { Routes } from "./routes.js";
import type { GatewayMetrics, RouteStats } from "./stats.js";

export type Event =
  | { type: "joined"; peer: string }
  | { type: "left"; peer: string }
  | { type: "message"; peer: string; data: unknown }
  | { type: "hub"; peer: string; subject: string; message: unknown };

export type Action =
  | { type: "subscribe"; peer: string; subject: string; route: string }
  | { type: "unsubscribe"; peer: string; subject: string }
  | { type: "send"; peer: string; data: unknown; route: string }
  | { type: "mux"; route: string; src: string; data: unknown }
  | { type: "publish"; subject: string; data: unknown; published: number | null; route: string }
  | { type: "drop"; reason: "unrouted" | "malformed" | "no_destination"; route: string | null; peer: string; detail?: string }
  | { type: "refuse"; route: string; peer: string; detail?: string };

/** An event's JSON form is wrong. */
export class RouterError extends Error {}
/** Returns `value` if it is an event in its JSON form, else throws RouterError. */
export function checkEvent(value: unknown): Event;
/** An action without its log `detail`. */
export function actionToJson(action: Action): Action;

export class Router {
  constructor(routes: Routes, options?: { metrics?: GatewayMetrics; timer?: () => number });
  readonly routes: Routes;
  readonly metrics: GatewayMetrics;
  /** Destinations the routes name: their queues outlive their connections. */
  readonly named: Set<string>;
  /** The joined peers, in the order they joined. */
  readonly peers: string[];
  stats(route: string): RouteStats;
  handle(event: Event): Action[];
}
