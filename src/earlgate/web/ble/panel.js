// A panel for any page: the Earl devices a BleGateway (link.js) serves, each
// with its state, last reading and counters, and the button that opens the
// browser's device chooser. It only renders what the gateway's events say.
//
//   import { mountBlePanel } from "/ble/panel.js";
//   const panel = mountBlePanel(element, { hub });   // hub: a HubClient
//   panel.gateway.statistics();  panel.unmount();
import { BleGateway } from "./link.js";

const STYLE_HREF = new URL("./panel.css", import.meta.url).href;
const STATE_TEXT = { connecting: "connecting…", connected: "connected", waiting: "reconnecting…", closed: "removed" };
const COUNTERS = [
  ["readings", "readings"],
  ["lost", "lost"],
  ["gaps", "gaps"],
  ["repeats", "repeated polls"],
  ["commands", "commands"],
  ["applied", "applied"],
  ["errors", "command errors"],
  ["connects", "connects"],
  ["drops", "drops"],
  ["gatt_errors", "GATT errors"],
];

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function ensureStyle(doc) {
  if ([...doc.querySelectorAll("link[rel=stylesheet]")].some((link) => link.href === STYLE_HREF)) return;
  doc.head.append(element("link", { rel: "stylesheet", href: STYLE_HREF }));
}

const fixed = (v, digits) => (typeof v === "number" ? v.toFixed(digits) : "–");

/** A reading's value as a line: x/y/z, a temperature, or the ball's event. */
export function formatValue(last) {
  if (!last) return "no reading yet";
  const unit = last.unit ? ` ${last.unit}` : "";
  const v = last.value;
  if (v && typeof v === "object") return `x ${fixed(v.x, 3)}  y ${fixed(v.y, 3)}  z ${fixed(v.z, 3)}${unit}`;
  if (typeof v === "number") return `${fixed(v, 2)}${unit}`;
  return `${last.kind} event`;
}

function deviceCard(name) {
  const state = element("span", { class: "ble-state", role: "status" });
  const value = element("output", { class: "ble-value", "aria-label": `last reading of ${name}` });
  const meta = element("p", { class: "ble-meta" });
  const counters = element("dl", { class: "ble-counters" });
  const error = element("p", { class: "ble-device-error", hidden: "" });
  const remove = element("button", { type: "button", class: "ble-remove", text: "Disconnect", "aria-label": `Disconnect ${name}` });
  const card = element(
    "li",
    { class: "ble-device", "data-device": name },
    element("div", { class: "ble-device-head" }, element("h3", { text: name }), state, remove),
    value,
    meta,
    counters,
    error,
  );
  return { card, state, value, meta, counters, error, remove };
}

function render(view, stats) {
  view.card.dataset.state = stats.state;
  view.state.textContent = STATE_TEXT[stats.state] ?? stats.state;
  view.value.textContent = formatValue(stats.last);
  const mode = stats.mode?.readings ? (stats.mode.readings === "notify" ? "notifications" : "polling") : "–";
  const delay = stats.reading_delay_ms;
  const delayText = delay.count ? `delay p50 ${fixed(delay.p50, 1)} ms, p99 ${fixed(delay.p99, 1)} ms` : "no delay yet";
  const seq = stats.last ? `seq ${stats.last.seq}` : "";
  view.meta.textContent = [stats.kind ?? "kind unknown", mode, seq, delayText].filter(Boolean).join(" · ");
  view.counters.replaceChildren(
    ...COUNTERS.flatMap(([key, label]) => [
      element("dt", { text: label }),
      element("dd", { "data-counter": key, text: String(stats[key] ?? 0) }),
    ]),
  );
  view.error.hidden = !stats.last_error;
  view.error.textContent = stats.last_error ? `Last error: ${stats.last_error}` : "";
}

/**
 * Mount the panel in `container`. Options: `hub` (a HubClient, required),
 * `gateway` (an existing BleGateway), or BleGateway options (namePrefix,
 * poll, pollMs, commandTimeoutMs, connectTimeoutMs, readTimeoutMs,
 * bluetooth). Returns {gateway, unmount}.
 */
export function mountBlePanel(container, { hub, gateway = null, title = "Bluetooth devices", ...options } = {}) {
  const doc = container.ownerDocument;
  ensureStyle(doc);
  const link = gateway ?? new BleGateway({ hub, ...options });
  const button = element("button", { type: "button", class: "ble-connect", text: "Connect a device…" });
  const error = element("p", { class: "ble-error", role: "alert", hidden: "" });
  const empty = element("p", { class: "ble-empty", text: "No device yet. Connect one: the browser lists the Earl devices in range." });
  const list = element("ul", { class: "ble-devices", "aria-label": "Connected devices" });
  const totals = element("p", { class: "ble-totals", "aria-live": "off" });
  const heading = element("h2", { text: title });
  const panel = element("section", { class: "ble-panel" }, element("div", { class: "ble-head" }, heading, button), error, empty, list, totals);
  container.append(panel);

  if (!link.bluetooth) {
    button.disabled = true;
    error.hidden = false;
    error.textContent = "This browser has no Web Bluetooth (Chromium or Edge; on Linux start it with --enable-features=WebBluetooth).";
  }

  const views = new Map();
  let frame = null;
  const draw = () => {
    frame = null;
    const stats = link.statistics();
    for (const [name, view] of views) {
      if (!stats.devices[name]) {
        view.card.remove();
        views.delete(name);
      }
    }
    for (const [name, device] of Object.entries(stats.devices)) {
      let view = views.get(name);
      if (!view) {
        view = deviceCard(name);
        view.remove.addEventListener("click", () => link.remove(name));
        views.set(name, view);
        list.append(view.card);
      }
      render(view, device);
    }
    empty.hidden = views.size > 0;
    totals.textContent = `${stats.published} published to the hub${stats.publish_failures ? `, ${stats.publish_failures} refused` : ""}`;
  };
  // One render per frame however many values arrive; a hidden tab renders when shown.
  const schedule = () => {
    if (frame !== null) return;
    frame = doc.visibilityState === "hidden" ? setTimeout(draw, 1000) : requestAnimationFrame(draw);
  };
  const onChange = () => schedule();
  const onError = (event) => {
    error.hidden = false;
    error.textContent = event.detail.error.message;
  };
  link.addEventListener("change", onChange);
  link.addEventListener("error", onError);
  button.addEventListener("click", async () => {
    error.hidden = true;
    button.disabled = true;
    try {
      await link.choose();
    } catch {
      // shown by the error event
    } finally {
      button.disabled = false;
    }
  });
  draw();

  return {
    gateway: link,
    element: panel,
    unmount() {
      link.removeEventListener("change", onChange);
      link.removeEventListener("error", onError);
      if (gateway === null) link.close();
      panel.remove();
    },
  };
}
