// The arm-probe page's URL parameters: /arm?mesh=ID&n=10&i=3&rate=4&size=100,
// the flags of `earlgate mesh` (--id, --peers, one index of --run, --rate,
// --size) plus the signaling server and ICE. Every wrong value is a
// ParamError naming the parameter. Pure.
import { JSON_LIMIT } from "../gateway/peering.js";
import { PEER_ID, ParamError, checkKnown, flag, number, peeringParams } from "../gateway/params.js";

export { ParamError };

// A full mesh of n peers is n - 1 connections per page: browsers cap their
// RTCPeerConnections (Chromium at 500), and the thesis's mesh had 10.
export const MAX_PEERS = 100;
export const ARM_PARAMS = ["mesh", "n", "i", "rate", "size", "signal", "key", "ice", "relay-only", "connect-timeout", "vibrate"];
export const ARM_DEFAULTS = Object.freeze({ rate: 4, size: 100, connectTimeout: 30 });

function integer(params, name, { min, max }) {
  const text = params.get(name);
  if (text === null || text === "") throw new ParamError(`${name}: missing`);
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ParamError(`${name}=${text}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

/** The page's options from its query string (throws ParamError). */
export function parseArmParams(search, origin) {
  const params = search instanceof URLSearchParams ? search : new URLSearchParams(search);
  checkKnown(params, ARM_PARAMS);
  const mesh = params.get("mesh");
  if (!mesh) throw new ParamError("mesh: missing (the mesh's id prefix, e.g. /arm?mesh=arms&n=10&i=3)");
  if (!PEER_ID.test(mesh)) throw new ParamError(`mesh=${mesh}: letters, digits and single "-", "_" or " " between them`);
  const peers = integer(params, "n", { min: 2, max: MAX_PEERS });
  const index = integer(params, "i", { min: 0, max: peers - 1 });
  return {
    mesh,
    peers,
    index,
    id: `${mesh}-${index}`,
    rate: number(params, "rate", ARM_DEFAULTS.rate, { max: 1000 }),
    size: number(params, "size", ARM_DEFAULTS.size, { integer: true, exclusive: false, max: JSON_LIMIT - 1 }),
    connectTimeout: number(params, "connect-timeout", ARM_DEFAULTS.connectTimeout),
    vibrate: flag(params, "vibrate", true),
    ...peeringParams(params, origin),
  };
}
