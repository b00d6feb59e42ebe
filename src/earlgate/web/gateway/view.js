// The gateway page's status view: renders what the Gateway counts, once a
// second while the tab is visible (a hidden tab skips drawing; forwarding never
// waits for it). Routes as cards with their counters and a live chart of
// messages per second and delay, peers with their queues, recent events, and
// the routes editor (paste or upload a routes file). Phone first.
import { drawChart } from "./chart.js";

const SLOTS = 60; // seconds of history per chart
const LOG_SHOWN = 60;

/** An element with attributes and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

function list(values) {
  return values.length === 1 ? values[0] : `[${values.join(", ")}]`;
}

/** One line saying what a rule does, in the routes file's words. */
export function describeRule(routes, name) {
  const [kind] = name.split("#");
  const rule = [...routes.forwards, ...routes.muxes, ...routes.demuxes, ...routes.bridges].find((r) => r.name === name);
  if (!rule) return "";
  if (kind === "forward") return `${list(rule.sources)} → ${list(rule.to)}`;
  if (kind === "mux") return `${list(rule.sources)} ⇒ ${rule.to}${rule.window ? ` every ${rule.window} s` : ""}`;
  if (kind === "demux") return `${list(rule.sources)} ⇉ dst${rule.to.length ? ` or ${list(rule.to)}` : ""}`;
  const parts = [];
  if (rule.publish) parts.push(`→ hub ${rule.publish}`);
  if (rule.subscribe) parts.push(`← hub ${rule.subscribe}`);
  return `${list(rule.peers)} ${parts.join(", ")}`;
}

function fmt(value, digits = 1) {
  if (!Number.isFinite(value)) return "–";
  return value >= 1000 ? Math.round(value).toLocaleString("en") : value.toFixed(digits);
}

/** Per route: messages per second and mean delay per second, from the cumulative counters. */
class RouteHistory {
  constructor(stats, t) {
    this.stats = stats;
    this.rates = [];
    this.delays = [];
    this.last = { t, out: stats.messagesOut, sum: stats.latency.sumUs, count: stats.latency.total };
  }

  sample(t) {
    const { stats, last } = this;
    const dt = (t - last.t) / 1000;
    if (dt <= 0) return;
    const out = stats.messagesOut;
    const sum = stats.latency.sumUs;
    const count = stats.latency.total;
    this.rates.push((out - last.out) / dt);
    this.delays.push(count > last.count ? (sum - last.sum) / (count - last.count) / 1000 : 0);
    if (this.rates.length > SLOTS) this.rates.shift();
    if (this.delays.length > SLOTS) this.delays.shift();
    this.last = { t, out, sum, count };
  }

  get rate() {
    return this.rates.length ? this.rates[this.rates.length - 1] : 0;
  }
}

export class GatewayView {
  /**
   * @param doc the page's document
   * @param onApply(text) applies a routes document; returns null or the error's text
   */
  constructor(doc, { onApply }) {
    this.doc = doc;
    this.$ = (id) => doc.getElementById(id);
    this.gateway = null;
    this.histories = new Map(); // route name -> RouteHistory
    this.cards = new Map(); // route name -> {card, figures, canvas}
    this.shownLog = 0;
    this.onApply = onApply;
    this.received = { t: 0, n: 0, rate: 0 };
    this.#wireEditor();
  }

  /** A fault that stops the page (bad parameters, routes that did not load): named in the banner. */
  fatal(text) {
    const banner = this.$("error");
    banner.textContent = text;
    banner.hidden = false;
  }

  /** Show `text` in the editor (the routes the gateway runs). */
  showRoutes(text) {
    this.$("routes-text").value = text;
  }

  #wireEditor() {
    const form = this.$("routes-form");
    const text = this.$("routes-text");
    const error = this.$("routes-error");
    const result = this.$("routes-result");
    const apply = (source) => {
      const problem = this.onApply(text.value);
      error.hidden = problem === null;
      error.textContent = problem ?? "";
      text.setAttribute("aria-invalid", problem === null ? "false" : "true");
      result.textContent = problem === null ? `Applied ${source} at ${new Date().toLocaleTimeString()}.` : "Not applied; the gateway keeps its routes.";
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      apply("the pasted routes");
    });
    this.$("routes-file").addEventListener("change", async (event) => {
      const file = event.target.files?.[0];
      if (!file) return;
      text.value = await file.text();
      apply(file.name);
      event.target.value = "";
    });
  }

  /** Start drawing `gateway`: every second, and at once. */
  attach(gateway) {
    this.gateway = gateway;
    this.$("gw-id").textContent = gateway.options.id;
    this.doc.title = `${gateway.options.id} · earlgate gateway`;
    // A burst of events (say, a peer sending malformed aggregates) redraws the list once.
    let pending = null;
    gateway.onLog(() => {
      if (pending !== null || this.doc.visibilityState === "hidden") return;
      pending = setTimeout(() => {
        pending = null;
        this.#renderLog();
      }, 200);
    });
    const tick = () => {
      this.#sample();
      if (this.doc.visibilityState !== "hidden") this.render();
    };
    setInterval(tick, 1000);
    this.doc.addEventListener("visibilitychange", () => this.doc.visibilityState === "visible" && this.render());
    tick();
  }

  #sample() {
    const t = performance.now();
    const metrics = this.gateway.metrics;
    for (const [name, stats] of metrics.routes) {
      const known = this.histories.get(name);
      if (!known || known.stats !== stats) this.histories.set(name, new RouteHistory(stats, t));
      else known.sample(t);
    }
    for (const name of [...this.histories.keys()]) if (!metrics.routes.has(name)) this.histories.delete(name);
    const dt = (t - this.received.t) / 1000;
    if (this.received.t && dt > 0) this.received.rate = (metrics.received - this.received.n) / dt;
    this.received = { t, n: metrics.received, rate: this.received.rate };
  }

  render() {
    const stats = this.gateway.stats();
    this.#renderHeader(stats);
    this.#renderRoutes(stats);
    this.#renderPeers(stats);
    this.#renderLog();
  }

  #renderHeader(stats) {
    const signal = this.$("signal");
    signal.dataset.state = stats.registered ? "connected" : stats.signaling === "stopped" ? "disconnected" : "connecting";
    signal.textContent = stats.registered ? "signaling: registered" : `signaling: ${stats.signaling}`;
    const hub = this.$("hub");
    hub.hidden = stats.hub === null;
    if (stats.hub !== null) {
      hub.dataset.state = stats.hub === "connected" ? "connected" : stats.hub === "closed" ? "disconnected" : "connecting";
      hub.textContent = `hub: ${stats.hub}`;
    }
    const errors = stats.errors ? `, ${stats.errors} error${stats.errors === 1 ? "" : "s"}` : "";
    this.$("summary").textContent =
      `${stats.peers.length} peer${stats.peers.length === 1 ? "" : "s"}, ` +
      `${fmt(this.received.rate)} msg/s in, ${stats.received.toLocaleString("en")} received, ` +
      `${stats.unrouted.toLocaleString("en")} unrouted${errors}`;
  }

  #renderRoutes(stats) {
    const box = this.$("routes");
    const names = Object.keys(stats.routes);
    this.$("routes-empty").hidden = names.length > 0;
    for (const [name, entry] of this.cards) {
      if (!(name in stats.routes) || entry.routes !== this.gateway.routes) {
        entry.card.remove();
        this.cards.delete(name);
      }
    }
    for (const name of names) {
      const route = stats.routes[name];
      let entry = this.cards.get(name);
      if (!entry) {
        const figures = el("dl", { class: "figures" });
        const canvas = el("canvas", { class: "chart", height: "64", "aria-label": `${name}: messages per second and delay, last minute` });
        const card = el(
          "article",
          { class: "route", "data-route": name, "data-kind": route.kind },
          el("h3", {}, el("span", { class: "kind", text: route.kind }), ` ${name} `, el("span", { class: "rule", text: describeRule(this.gateway.routes, name) })),
          figures,
          el("figure", {}, canvas, el("figcaption", {}, el("span", { class: "key rate", text: "msg/s" }), " ", el("span", { class: "key delay", text: "delay ms" }))),
        );
        box.append(card);
        entry = { card, figures, canvas, routes: this.gateway.routes };
        this.cards.set(name, entry);
      }
      const history = this.histories.get(name);
      const dropped = Object.entries(route.dropped_by)
        .map(([reason, n]) => `${reason} ${n}`)
        .join(", ");
      const items = [
        ["in", route.in.toLocaleString("en")],
        ["out", route.out.toLocaleString("en")],
        ["msg/s", fmt(history?.rate ?? 0)],
        ["p50 ms", fmt(route.latency_ms.p50, 2)],
        ["p99 ms", fmt(route.latency_ms.p99, 2)],
        ["dropped", route.dropped.toLocaleString("en")],
      ];
      if (route.kind === "mux") items.splice(2, 0, ["parts", route.parts_out.toLocaleString("en")]);
      if (route.kind === "demux") items.push(["lost", String(route.lost)], ["repeats", String(route.duplicates)]);
      if (route.kind === "bridge" && route.refused) items.push(["refused", String(route.refused)]);
      entry.figures.replaceChildren(
        ...items.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v, title: k === "dropped" && dropped ? dropped : null }))),
      );
      entry.card.classList.toggle("dropping", route.dropped > 0);
      if (history) {
        drawChart(entry.canvas, [
          { points: history.rates, unit: "/s" },
          { points: history.delays, unit: " ms" },
        ], SLOTS);
      }
    }
  }

  #renderPeers(stats) {
    const ul = this.$("peers");
    const known = new Set([...stats.peers, ...Object.keys(stats.queues)]);
    this.$("peers-empty").hidden = known.size > 0;
    this.$("peer-count").textContent = stats.peers.length ? `(${stats.peers.length})` : "";
    const rows = [...known].sort().map((peer) => {
      const queue = stats.queues[peer];
      const connected = stats.links[peer] ?? 0;
      const facts = [connected ? `${connected} connection${connected === 1 ? "" : "s"}` : "away"];
      if (queue) facts.push(`${queue.sent.toLocaleString("en")} sent`, `${queue.queued} queued`);
      if (queue?.dropped) facts.push(`${queue.dropped} dropped`);
      if (queue?.failed) facts.push(`${queue.failed} failed`);
      return el("li", { "data-peer": peer, "data-state": connected ? "up" : "away" }, el("code", { text: peer }), " ", el("span", { class: "muted", text: facts.join(" · ") }));
    });
    ul.replaceChildren(...rows);
  }

  #renderLog() {
    const log = this.gateway.log;
    const ol = this.$("log");
    const entries = log.slice(-LOG_SHOWN).reverse();
    ol.replaceChildren(
      ...entries.map((entry) =>
        el("li", { "data-level": entry.level }, el("time", { text: new Date(entry.at).toLocaleTimeString() }), " ", entry.text),
      ),
    );
  }
}
