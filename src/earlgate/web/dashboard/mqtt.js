// The "MQTT clients" panel: /stats's mqtt block (docs/mqtt.md, "On /stats and the dashboard").
import { formatNumber } from "./charts.js";

const TRANSPORTS = { tcp: "TCP", websocket: "/mqtt" };
const COLUMNS = [
  ["client", "client id"],
  ["version", "MQTT"],
  ["transport", "via"],
  ["state", "state"],
  ["subscriptions", "subscriptions"],
  ["inflight", "in flight out / in"],
  ["queued", "queued"],
];

/** Seconds as a person reads a duration: 42 s, 5 min, 3.2 h, 2.0 d. */
export function duration(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** "3 sessions: 2 connected (1 TCP, 1 /mqtt), 1 kept", and how many of them are listed. */
export function summary(mqtt, connections) {
  const total = mqtt.sessions ?? 0;
  if (total === 0) return "No MQTT session: clients connect to the MQTT port (--mqtt-port) or to ws://HOST:PORT/mqtt.";
  const tcp = connections.mqtt_tcp ?? 0;
  const ws = connections.mqtt_websocket ?? 0;
  const listed = (mqtt.listed ?? []).length;
  let text = `${formatNumber(total)} session${total === 1 ? "" : "s"}: ` +
    `${formatNumber(tcp + ws)} connected (${formatNumber(tcp)} TCP, ${formatNumber(ws)} /mqtt), ` +
    `${formatNumber(mqtt.kept ?? 0)} kept for a client that is away`;
  if (listed < total) text += `; the first ${formatNumber(listed)} listed`;
  return `${text}.`;
}

/** The text of each cell of one listed session. */
export function cells(entry) {
  const filters = (entry.filters ?? []).map((f) => `${f.filter} (${f.qos})`);
  const more = (entry.subscriptions ?? 0) - filters.length;
  if (more > 0) filters.push(`+${more} more`);
  const kept = entry.state === "kept";
  const state = kept
    ? `kept ${duration(entry.for_s)}, ends in ${duration(entry.expires_in_s)}`
    : `connected ${duration(entry.for_s)}`;
  return {
    client: entry.client_id,
    version: entry.version,
    transport: TRANSPORTS[entry.transport] ?? String(entry.transport),
    state,
    subscriptions: filters.length ? filters.join(", ") : "none",
    inflight: `${entry.inflight_out ?? 0} / ${entry.inflight_in ?? 0}`,
    queued: String(entry.queued ?? 0),
  };
}

export class MqttPanel {
  constructor(root) {
    this.root = root;
    this.summary = root.querySelector("#mqtt-summary");
    this.body = root.querySelector("#mqtt-clients tbody");
    this.table = root.querySelector("#mqtt-clients");
  }

  update(stats) {
    const mqtt = stats.mqtt ?? { sessions: 0, listed: [] };
    this.summary.textContent = summary(mqtt, stats.connections ?? {});
    const listed = mqtt.listed ?? [];
    this.table.hidden = listed.length === 0;
    this.body.replaceChildren(
      ...listed.map((entry) => {
        const row = document.createElement("tr");
        row.dataset.client = entry.client_id;
        row.dataset.state = entry.state;
        const text = cells(entry);
        for (const [key, label] of COLUMNS) {
          const cell = document.createElement(key === "client" ? "th" : "td");
          if (key === "client") cell.scope = "row";
          cell.className = key;
          cell.dataset.label = label;
          cell.textContent = text[key];
          if (key === "state") cell.title = `since ${new Date(entry.since * 1000).toLocaleString()}`;
          row.append(cell);
        }
        return row;
      }),
    );
  }
}
