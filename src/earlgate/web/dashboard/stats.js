// The hub's own figures: GET /stats every second (last_second, totals, hub.broker, connections).
import { formatNumber, TimeChart } from "./charts.js";

const POLL_MS = 1000;
const MAX_DURABLE_LINES = 6;

function legendFor(root, name) {
  return root.querySelector(`.legend[data-for="${name}"]`);
}

function sum(object) {
  return Object.values(object ?? {}).reduce((total, v) => total + (Number(v) || 0), 0);
}

/** The connections figure's split: WebSocket clients, MQTT ones by carrier, sessions kept. */
export function connectionSplit(connections) {
  const c = connections ?? {};
  return `WebSocket ${formatNumber(c.websocket ?? 0)} · MQTT TCP ${formatNumber(c.mqtt_tcp ?? 0)}` +
    ` · /mqtt ${formatNumber(c.mqtt_websocket ?? 0)} · kept ${formatNumber(c.mqtt_kept ?? 0)}`;
}

function uptime(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export class StatsPanel {
  /** ``durable()`` lists [subject, offset, epoch] of the durable subjects seen in messages;
   * ``mqtt`` (the MQTT clients panel) gets every /stats answer too. */
  constructor(root, durable, mqtt = null) {
    this.root = root;
    this.durable = durable;
    this.mqtt = mqtt;
    this.figures = root.querySelector("#figures");
    this.durableSummary = root.querySelector("#durable-summary");
    this.durableBody = root.querySelector("#durable tbody");
    const chart = (id, name, labels) =>
      new TimeChart(root.querySelector(`#${id}`), legendFor(root, name), labels);
    this.charts = {
      rates: chart("chart-rates", "rates", ["in/s", "out/s"]),
      service: chart("chart-service", "service", ["p50", "p99"]),
      lag: chart("chart-lag", "lag", ["p50", "p99"]),
      conns: chart("chart-conns", "conns", ["open", "drops/s"]),
      offsets: chart("chart-offsets", "offsets", []),
    };
    this.failures = 0;
    window.addEventListener("resize", () => this.draw());
  }

  start() {
    const poll = async () => {
      await this.poll();
      setTimeout(poll, POLL_MS);
    };
    poll();
  }

  async poll() {
    try {
      const response = await fetch("/stats", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      this.update(await response.json());
      this.failures = 0;
    } catch (error) {
      this.failures += 1;
      this.root.dataset.state = "unreachable";
      this.figures.dataset.error = error instanceof Error ? error.message : String(error);
    }
  }

  update(stats) {
    this.root.dataset.state = stats.healthy ? "healthy" : "unhealthy";
    const last = stats.last_second ?? {};
    const totals = stats.totals ?? {};
    const broker = stats.hub?.broker ?? {};
    const service = last.service_time_ms ?? {};
    const lag = last.loop_lag_ms ?? {};
    const figures = [
      ["in", `${formatNumber(last.messages_in_per_s ?? 0)}/s`, "messages_in_per_s"],
      ["out", `${formatNumber(last.messages_out_per_s ?? 0)}/s`, "messages_out_per_s"],
      ["service p50 / p99", `${formatNumber(service.p50)} / ${formatNumber(service.p99)} ms`, "service_time_ms"],
      ["loop lag p50 / p99", `${formatNumber(lag.p50)} / ${formatNumber(lag.p99)} ms`, "loop_lag_ms"],
      ["connections", formatNumber(totals.connections_open ?? 0), "connections_open",
        stats.connections ? connectionSplit(stats.connections) : null],
      ["subscriptions", formatNumber(totals.subscriptions ?? 0), "subscriptions"],
      ["dropped", formatNumber(sum(totals.dropped)), "dropped"],
      ["errors", formatNumber(sum(totals.errors)), "errors"],
      ["CPU", `${formatNumber(last.cpu_percent ?? 0)} %`, "cpu_percent"],
      ["broker", `${stats.broker ?? "?"}${stats.healthy ? "" : " (unhealthy)"}`, "broker"],
      ["retained", formatNumber(broker.retained_subjects ?? 0), "retained_subjects"],
      ["up", uptime(stats.uptime ?? 0), "uptime"],
    ];
    this.figures.replaceChildren(
      ...figures.map(([label, value, field, detail]) => {
        const div = document.createElement("div");
        div.dataset.field = field;
        const dt = document.createElement("dt");
        dt.textContent = label;
        const dd = document.createElement("dd");
        dd.textContent = value;
        div.append(dt, dd);
        if (detail) {
          const split = document.createElement("dd");
          split.className = "split";
          split.textContent = detail;
          div.append(split);
        }
        return div;
      }),
    );
    this.mqtt?.update(stats);
    this.charts.rates.push([last.messages_in_per_s, last.messages_out_per_s]);
    this.charts.service.push([service.p50, service.p99]);
    this.charts.lag.push([lag.p50, lag.p99]);
    this.charts.conns.push([totals.connections_open, last.dropped_per_s]);
    this.updateDurable(broker);
    this.draw();
  }

  updateDurable(broker) {
    const seen = this.durable();
    const count = broker.durable_subjects ?? 0;
    const epoch = broker.epoch ? `, epoch ${String(broker.epoch).slice(0, 12)}` : "";
    this.durableSummary.textContent =
      `${formatNumber(count)} durable subject${count === 1 ? "" : "s"} stored` +
      ` (${formatNumber((broker.durable_bytes ?? 0) / 1024)} KiB${epoch}); ` +
      (seen.length ? `${seen.length} seen here.` : "none seen by this page yet.");
    const lines = seen.slice(0, MAX_DURABLE_LINES);
    this.charts.offsets.setLabels(lines.map(([subject]) => subject));
    this.charts.offsets.push(lines.map(([, offset]) => offset));
    this.durableBody.replaceChildren(
      ...seen.slice(0, 50).map(([subject, offset, epochText]) => {
        const row = document.createElement("tr");
        for (const value of [subject, String(offset), String(epochText ?? "").slice(0, 12)]) {
          const cell = document.createElement("td");
          cell.textContent = value;
          row.append(cell);
        }
        return row;
      }),
    );
  }

  draw() {
    requestAnimationFrame(() => {
      for (const chart of Object.values(this.charts)) chart.draw();
    });
  }
}
