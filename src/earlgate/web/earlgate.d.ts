// Types of earlgate.js, the browser client of an earlgate hub (docs/browser.md).

/** A frame the hub delivers: the publish frame as the publisher sent it, plus the hub's `_` fields. */
export interface Message<T = unknown> {
  type: "publish" | "publisher";
  subject: string;
  published?: number;
  data?: T;
  retain?: boolean;
  /** Durable subjects: the store's offset of this message. */
  _offset?: number;
  /** Durable subjects: the store's epoch (changes when the store lost its history). */
  _epoch?: string;
  [field: string]: unknown;
}

export type ErrorCode =
  | "bad_json"
  | "bad_frame"
  | "bad_subject"
  | "too_large"
  | "forbidden"
  | "rate_limited"
  | "overloaded"
  | "unavailable"
  | (string & {});

/** The hub refused a frame; `code` is PROTOCOL.md's error code. */
export class HubError extends Error {
  constructor(code: ErrorCode, reason: string);
  readonly code: ErrorCode;
  readonly reason: string;
}

export type ClientErrorCode = "bad_subject" | "bad_frame" | "queue_full" | "closed" | "timeout" | "disconnected";

/** An error of the client itself (not the hub's answer). */
export class ClientError extends Error {
  constructor(code: ClientErrorCode, message: string);
  readonly code: ClientErrorCode;
}

/** A subject or pattern that breaks the hub's rules (code "bad_subject"). */
export class SubjectError extends ClientError {
  constructor(message: string);
}

/** Returns `text` if it is a publishable subject, else throws SubjectError. */
export function checkSubject(text: string): string;
/** Returns `text` if it is a subscription pattern (`+`, `#` wildcards), else throws SubjectError. */
export function checkPattern(text: string): string;
/** Whether `subject` matches `pattern`. */
export function matches(pattern: string, subject: string): boolean;
/** Full-jitter exponential backoff in ms: uniform in [0, min(max, initial * 2^attempt)). */
export function backoffDelay(attempt: number, backoff?: Backoff, random?: () => number): number;
/** A JWT's `exp` claim (seconds since the epoch), or null. */
export function tokenExp(token: string): number | null;
/** When (ms since the epoch) to refresh a token expiring at `exp` (s), seen at `at` (ms). */
export function refreshAt(exp: number, at?: number): number;

export type Listener<D> = (detail: D) => void;

export class Emitter<Events extends Record<string, unknown>> {
  on<K extends keyof Events & string>(type: K, fn: Listener<Events[K]>): this;
  off<K extends keyof Events & string>(type: K, fn: Listener<Events[K]>): this;
  emit<K extends keyof Events & string>(type: K, detail: Events[K]): void;
}

export interface Backoff {
  /** First retry's bound in ms (default 500). */
  initial?: number;
  /** Largest bound in ms (default 20000). */
  max?: number;
}

export interface SubscribeOptions {
  /** Deliver each matching subject's retained value first. */
  last?: boolean;
  /** Durable single subject: replay stored history after this offset. */
  since?: number;
  /** The epoch `since` belongs to. */
  epoch?: string;
  /** Durable pattern: resume every matching subject after a reconnect (docs/hub.md). */
  resume?: boolean;
}

export interface SubscriptionEvents {
  message: Message;
  unrecovered: { subscription: Subscription };
  error: { error: HubError };
}

export class Subscription extends Emitter<SubscriptionEvents> implements AsyncIterable<Message> {
  readonly pattern: string;
  /** The hub's answer to the last resume; false: messages were missed, reload state elsewhere. */
  readonly recovered: boolean | null;
  /** Last durable offset and epoch seen (single subject). */
  readonly offset: number | null;
  readonly epoch: string | null;
  /** With `resume`: subject -> [offset, epoch]. */
  readonly positions: Map<string, [number, string]> | null;
  readonly unrecovered: number;
  readonly duplicates: number;
  /** Messages dropped from the `for await` buffer (oldest first, `subscriptionSize`). */
  readonly dropped: number;
  readonly closed: boolean;
  [Symbol.asyncIterator](): AsyncIterator<Message>;
  unsubscribe(): Promise<void>;
}

export interface HubClientOptions {
  /** Called on every (re)connect and before the token's `exp`; one call in flight at a time. */
  getToken?: () => string | Promise<string>;
  backoff?: Backoff;
  /** Frames held while disconnected (default 1000); past it publish rejects with code "queue_full". */
  queueSize?: number;
  /** Ping when nothing was received for this long, ms (default 15000). */
  pingInterval?: number;
  /** A ping unanswered this long (awake, wall-clock) closes the connection, ms (default 10000). */
  pongTimeout?: number;
  /** Default `timeout` of an acked publish, ms (default 10000). */
  ackTimeout?: number;
  /** A connection up this long resets the backoff, ms (default 5000). */
  stableAfter?: number;
  /** Messages each `for await` buffer holds (default 10000). */
  subscriptionSize?: number;
  /**
   * Ask for batched delivery with `?batch=1` (default true): the hub may then put
   * several messages in one frame, one per line, which costs a browser far less
   * per message. A hub without it ignores the parameter; nothing else changes.
   */
  batch?: boolean;
  /** The WebSocket constructor (default: globalThis.WebSocket). */
  WebSocket?: new (url: string) => WebSocket;
}

export interface PublishOptions {
  retain?: boolean;
  /** Resolve on the hub's ack; reject with HubError (its code) or ClientError. */
  ack?: boolean;
  /** ms to wait for the ack (default: ackTimeout). */
  timeout?: number;
  /** The frame's `published` (ms since the epoch; default now). */
  published?: number;
  /** Extra fields of the frame. */
  fields?: Record<string, unknown>;
}

export type ClientState = "connecting" | "connected" | "disconnected" | "closed";

export interface HubClientEvents {
  connecting: { attempt: number; delay: number };
  connected: Record<string, never>;
  disconnected: { code: number; reason: string };
  dropped: { dropped?: number; total?: number };
  unrecovered: { subscription: Subscription };
  error: { error: Error; subscription?: Subscription };
  token: { exp: number | null };
}

export class HubClient extends Emitter<HubClientEvents> {
  constructor(url: string, options?: HubClientOptions);
  readonly url: string;
  readonly state: ClientState;
  /** Resolves when connected (now or on the next connection); rejects once closed. */
  readonly connected: Promise<void>;
  /** Frames waiting in the offline queue. */
  readonly queued: number;
  readonly subscriptions: readonly Subscription[];
  publish(subject: string, data?: unknown, options?: PublishOptions): Promise<void>;
  subscribe(pattern: string, options?: SubscribeOptions): Promise<Subscription>;
  unsubscribe(subscription: Subscription): Promise<void>;
  /** Fetch a token now and send it on the open connection. */
  refresh(): Promise<void>;
  close(): void;
}
