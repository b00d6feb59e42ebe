// /gateway: the gateway as a web page (docs/gateway.md, "The gateway as a web
// page"). Reads the parameters, loads the routes (routes=URL, or pasted or
// uploaded later), starts the gateway and its view, and exposes
// window.earlgateGateway for scripts and the rtc bench:
//   ready    a Promise: the peer is registered and the routes loaded (rejects naming why not)
//   stats()  plain JSON counters (routes, queues, peers; see service.js)
//   setRoutes(text)  apply a routes document (throws RoutesError)
//   ble()    the Bluetooth devices' counters (with hub=; null without)
//   close()  flush the mux windows and leave
// With hub= the page is also a gateway for Earl devices over Web Bluetooth
// (the panel of /ble/panel.js, as on the hub's /devices page).
import { HubClient } from "/earlgate.js";
import { mountBlePanel } from "/ble/panel.js";
import { ParamError, parseParams } from "./params.js";
import { Peering } from "./peering.js";
import { RoutesError, loadsRoutes } from "./routes.js";
import { Gateway } from "./service.js";
import { workerTimers } from "./timers.js";
import { GatewayView } from "./view.js";

let settle;
const ready = new Promise((resolve, reject) => (settle = { resolve, reject }));
ready.catch(() => {}); // a rejection is shown on the page; whoever awaits it sees it too

let gateway = null;
let ble = null; // the Web Bluetooth side (link.js BleGateway), when the page has a hub
let failure = null;

/** Check and apply a routes document; the error's text, or null. */
function apply(text) {
  if (!gateway) return failure ?? "the gateway did not start";
  try {
    gateway.setRoutes(loadsRoutes(text), text);
    return null;
  } catch (error) {
    if (error instanceof RoutesError) return error.message;
    throw error;
  }
}

const view = new GatewayView(document, { onApply: apply });

window.earlgateGateway = {
  ready,
  stats: () => (gateway ? gateway.stats() : { error: failure, routes: {}, peers: [] }),
  setRoutes(text) {
    const problem = apply(text);
    if (problem !== null) throw new RoutesError(problem);
    view.showRoutes(text);
  },
  ble: () => (ble ? ble.statistics() : null),
  close: () => {
    ble?.close();
    gateway?.close();
  },
};

function fail(message) {
  failure = message;
  view.fatal(message);
  settle.reject(new Error(message));
}

async function fetchRoutes(url) {
  let reply;
  try {
    reply = await fetch(url, { cache: "no-store" });
  } catch (error) {
    throw new RoutesError(`routes ${url}: cannot fetch (${error.message})`);
  }
  if (!reply.ok) throw new RoutesError(`routes ${url}: HTTP ${reply.status}`);
  const text = await reply.text();
  try {
    return [loadsRoutes(text), text];
  } catch (error) {
    throw error instanceof RoutesError ? new RoutesError(`routes ${url}: ${error.message}`) : error;
  }
}

async function main() {
  let options;
  try {
    options = parseParams(location.search, location.origin);
  } catch (error) {
    if (!(error instanceof ParamError)) throw error;
    fail(`${error.message} (in the page's address)`);
    return;
  }
  let loaded = null;
  let routesProblem = null;
  if (options.routes !== null) {
    try {
      loaded = await fetchRoutes(options.routes);
    } catch (error) {
      if (!(error instanceof RoutesError)) throw error;
      routesProblem = error.message;
    }
  }
  const hubToken = options.hubToken;
  gateway = new Gateway(options, {
    makePeering: (handlers) => new Peering(options, handlers),
    makeHub: () => new HubClient(options.hub, hubToken ? { getToken: async () => hubToken } : {}),
    timers: workerTimers(),
  });
  if (loaded) {
    try {
      gateway.setRoutes(...loaded);
      view.showRoutes(loaded[1]);
    } catch (error) {
      if (!(error instanceof RoutesError)) throw error;
      routesProblem = `routes ${options.routes}: ${error.message}`;
    }
  }
  view.attach(gateway);
  if (gateway.hub) {
    // With a hub the page is also the Earl devices' gateway (Web Bluetooth, docs/earl-ble.md).
    const panel = document.getElementById("ble-panel");
    panel.hidden = false;
    ble = mountBlePanel(panel, { hub: gateway.hub }).gateway;
  }
  window.addEventListener("pagehide", () => {
    ble?.close();
    gateway.close();
  });
  gateway.start();
  if (routesProblem !== null) {
    fail(routesProblem);
    return;
  }
  try {
    await gateway.registered;
  } catch (error) {
    fail(error.message);
    return;
  }
  settle.resolve();
}

main().catch((error) => fail(`the page failed: ${error?.message ?? error}`));
