// The arm-probe page's view: this member and, per other member, its readings,
// one-way delay (last, p50, p99 of the recent ones, a live chart) and the
// last vibration vector; navigator.vibrate pulses on readings once the user
// turned it on (browsers allow vibration only after a tap). Drawn once a
// second while visible; receiving never waits for it.
import { drawChart } from "../gateway/chart.js";
import { el } from "../gateway/view.js";

// At most one vibration pulse per this many ms, however many readings arrive.
export const PULSE_EVERY_MS = 250;
const PULSE_MS = 30;

function ms(value) {
  return value === null || value === undefined ? "–" : `${value.toFixed(value >= 100 ? 0 : 1)} ms`;
}

export class ArmView {
  constructor(doc) {
    this.doc = doc;
    this.$ = (id) => doc.getElementById(id);
    this.member = null;
    this.rows = new Map(); // peer -> {row, figures, canvas}
    this.vibrating = false;
    this.lastPulse = 0;
    this.flash = 0;
  }

  fatal(text) {
    const banner = this.$("error");
    banner.textContent = text;
    banner.hidden = false;
  }

  attach(member) {
    this.member = member;
    const { options } = member;
    this.$("arm-id").textContent = options.id;
    this.doc.title = `${options.id} · earlgate arm`;
    this.$("mesh-line").textContent = `mesh ${options.mesh}, ${options.peers} peers, ${options.rate} Hz, ${options.size} characters`;
    const toggle = this.$("vibrate");
    const canVibrate = options.vibrate && typeof navigator.vibrate === "function";
    toggle.hidden = !canVibrate;
    const note = this.$("vibrate-note");
    note.hidden = canVibrate;
    note.textContent = options.vibrate ? "This browser cannot vibrate." : "Vibration off (vibrate=0).";
    toggle.addEventListener("click", () => {
      this.vibrating = !this.vibrating;
      toggle.setAttribute("aria-pressed", String(this.vibrating));
      toggle.textContent = this.vibrating ? "Vibration on" : "Vibrate on readings";
    });
    member.on("reading", () => this.#pulse());
    let pending = null; // a burst of events redraws the list once
    member.on("log", () => {
      if (pending !== null || this.doc.visibilityState === "hidden") return;
      pending = setTimeout(() => {
        pending = null;
        this.#renderLog();
      }, 200);
    });
    for (const peer of member.expected) this.#row(peer);
    setInterval(() => this.doc.visibilityState !== "hidden" && this.render(), 1000);
    this.render();
  }

  #pulse() {
    const now = performance.now();
    if (now - this.lastPulse < PULSE_EVERY_MS) return;
    this.lastPulse = now;
    this.flash += 1;
    // Only after a tap (user activation): a call before it is refused and reported by the browser.
    if (this.vibrating && navigator.userActivation?.hasBeenActive !== false) navigator.vibrate(PULSE_MS);
  }

  #row(peer) {
    const figures = el("dl", { class: "figures" });
    const canvas = el("canvas", { class: "chart", height: "48", "aria-label": `one-way delay from ${peer}, recent readings` });
    const state = el("span", { class: "pill", "data-state": "connecting", text: "waiting" });
    const row = el("article", { class: "route arm", "data-peer": peer }, el("h3", {}, el("code", { text: peer }), " ", state), figures, canvas);
    this.$("peers").append(row);
    const entry = { row, figures, canvas, state };
    this.rows.set(peer, entry);
    return entry;
  }

  render() {
    const stats = this.member.toJSON();
    const signal = this.$("signal");
    signal.dataset.state = stats.registered ? "connected" : stats.signaling === "stopped" ? "disconnected" : "connecting";
    signal.textContent = stats.registered ? "signaling: registered" : `signaling: ${stats.signaling}`;
    const got = Object.values(stats.received).reduce((a, b) => a + b, 0);
    const setup = stats.setup_ms === null ? "" : `, mesh up in ${(stats.setup_ms / 1000).toFixed(2)} s`;
    this.$("summary").textContent =
      `${stats.connected.length}/${stats.expected.length} connected${setup} · ` +
      `${stats.sent.toLocaleString("en")} sent · ${got.toLocaleString("en")} received`;
    this.$("pulse").dataset.beat = String(this.flash % 2);
    for (const peer of stats.expected) {
      const entry = this.rows.get(peer) ?? this.#row(peer);
      const up = stats.connected.includes(peer);
      entry.state.dataset.state = up ? "connected" : "connecting";
      entry.state.textContent = up ? "connected" : "waiting";
      const figures = stats.per_peer[peer];
      const items = [
        ["readings", (figures?.received ?? 0).toLocaleString("en")],
        ["delay", ms(figures?.last_ms)],
        ["p50", ms(figures?.p50_ms)],
        ["p99", ms(figures?.p99_ms)],
        ["lost", String(figures?.lost ?? 0)],
        ["x y z", figures?.v ? figures.v.map((x) => x.toFixed(2)).join(" ") : "–"],
      ];
      entry.figures.replaceChildren(
        ...items.map(([k, v]) => el("div", { class: k === "x y z" ? "vector" : null }, el("dt", { text: k }), el("dd", { text: v }))),
      );
      const recent = this.member.stats.peers.get(peer)?.recent ?? [];
      drawChart(entry.canvas, [{ points: recent, colour: "#ffb74d", unit: " ms" }], 120);
    }
    this.#renderLog();
  }

  #renderLog() {
    const entries = this.member.log.slice(-40).reverse();
    this.$("log").replaceChildren(
      ...entries.map((entry) => el("li", { "data-level": entry.level }, el("time", { text: new Date(entry.at).toLocaleTimeString() }), " ", entry.text)),
    );
  }
}
