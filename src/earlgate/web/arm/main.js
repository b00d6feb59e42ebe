// /arm?mesh=ID&n=10&i=3: one arm-probe of the mesh as a web page (docs/gateway.md,
// "The arm-probe page"). Exposes window.earlgateArm for scripts and the rtc bench:
//   ready    a Promise: registered and connected to every other member (rejects naming who is missing)
//   stats()  {sent, received: {peer: n}, delays_ms: [...], per_peer, connected, ...}
//   countWindow(startMs, endMs)  count apart what is sent in it and the readings stamped
//            in it (stats().window), as earlgate mesh counts: the rtc bench's window
//   close()  stop sending and leave the mesh
import { Peering } from "../gateway/peering.js";
import { workerTimers } from "../gateway/timers.js";
import { ArmMember, RETRY_MS } from "./member.js";

// Dial a lower member again after 0.5 s (earlgate mesh's retry), backing off to 5 s
// for one that stays away.
const DIAL_BACKOFF = [RETRY_MS, 1000, 2000, 5000];
import { ParamError, parseArmParams } from "./params.js";
import { ArmView } from "./view.js";

let settle;
const ready = new Promise((resolve, reject) => (settle = { resolve, reject }));
ready.catch(() => {}); // shown on the page; whoever awaits it sees it too
let member = null;
let failure = null;

window.earlgateArm = {
  ready,
  stats: () => (member ? member.toJSON() : { error: failure, sent: 0, received: {}, delays_ms: [] }),
  countWindow: (startMs, endMs) => member?.stats.countWindow(startMs, endMs),
  close: () => member?.close(),
};

const view = new ArmView(document);

function fail(message) {
  failure = message;
  view.fatal(message);
  settle.reject(new Error(message));
}

function main() {
  let options;
  try {
    options = parseArmParams(location.search, location.origin);
  } catch (error) {
    if (!(error instanceof ParamError)) throw error;
    fail(`${error.message} (in the page's address)`);
    return;
  }
  const peering = { ...options, serialization: "json", dialBackoff: DIAL_BACKOFF };
  member = new ArmMember(options, { makePeering: (handlers) => new Peering(peering, handlers), timers: workerTimers() });
  view.attach(member);
  window.addEventListener("pagehide", () => member.close());
  member.start();
  member.ready.then(
    () => settle.resolve(),
    (error) => fail(error.message),
  );
}

try {
  main();
} catch (error) {
  fail(`the page failed: ${error?.message ?? error}`);
}
