// Types of params.js: the arm-probe page's URL parameters.
import type { Peering } from "../gateway/params.js";
export { ParamError } from "../gateway/params.js";

export const MAX_PEERS: number;
export const ARM_PARAMS: readonly string[];
export const ARM_DEFAULTS: Readonly<{ rate: number; size: number; connectTimeout: number }>;

export interface ArmParams extends Peering {
  mesh: string;
  peers: number;
  index: number;
  /** `${mesh}-${index}` */
  id: string;
  /** Hz, to each other peer. */
  rate: number;
  /** Characters of JSON per message. */
  size: number;
  /** Seconds. */
  connectTimeout: number;
  vibrate: boolean;
}

/** Throws ParamError naming the parameter. */
export function parseArmParams(search: string | URLSearchParams, origin: string): ArmParams;
