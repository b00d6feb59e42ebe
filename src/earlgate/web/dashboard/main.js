// The dashboard at the hub's GET /: wires the panels to two hub connections
// (one for the subject tree and the publish form, one for the LED modules,
// so that a filter never hides an LED module) and to GET /stats (the Hub and
// MQTT clients panels).
import { LedPanel } from "./ball.js";
import { Connection, getToken, patternProblem, setToken } from "./connection.js";
import { MqttPanel } from "./mqtt.js";
import { PublishForm } from "./publish.js";
import { StatsPanel } from "./stats.js";
import { SubjectsView } from "./subjects.js";

const $ = (selector) => document.querySelector(selector);

function showStatus(state) {
  const pill = $("#conn");
  pill.dataset.state = state;
  pill.textContent = state === "connected" ? "connected"
    : state === "connecting" ? "connecting…" : "disconnected, retrying";
  if (state === "disconnected" && !getToken()) {
    pill.title = "If the hub runs with --auth-secret, give it a token.";
  }
}

function setupToken() {
  const form = $("#token-form");
  const input = $("#token");
  const details = $("#auth");
  if (getToken()) {
    input.placeholder = "a token is set for this tab";
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    input.value = "";
    window.location.reload();
  });
  $("#token-clear").addEventListener("click", () => {
    setToken(null);
    window.location.reload();
  });
  return details;
}

function setupFilter(connection, view) {
  const form = $("#filter-form");
  const input = $("#filter");
  const error = $("#filter-error");
  let current = null;
  let applying = Promise.resolve();
  const check = () => {
    const problem = patternProblem(input.value.trim());
    error.hidden = problem === null;
    error.textContent = problem ? `Filter: ${problem}` : "";
    input.setAttribute("aria-invalid", String(problem !== null));
    return problem === null;
  };
  const apply = () => {
    const pattern = input.value.trim();
    if (!check() || (current && current.pattern === pattern)) return applying;
    applying = applying.then(async () => {
      const previous = current;
      current = null;
      previous?.close();
      view.refilter(pattern);
      try {
        current = await connection.subscribe(pattern, (message) => view.add(message), { last: true });
        const url = new URL(window.location.href);
        url.hash = pattern === "#" ? "" : `filter=${encodeURIComponent(pattern)}`;
        window.history.replaceState(null, "", url);
      } catch (err) {
        error.hidden = false;
        error.textContent = `Filter refused: ${err instanceof Error ? err.message : String(err)}`;
      }
    });
    return applying;
  };
  input.addEventListener("input", check);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  const fromHash = new URLSearchParams(window.location.hash.slice(1)).get("filter");
  if (fromHash) input.value = fromHash;
  return apply;
}

function main() {
  setupToken();
  const connection = new Connection(showStatus);
  const leds = new Connection(() => {});
  const view = new SubjectsView({
    tree: $("#tree"),
    history: $("#history"),
    detailTitle: $("#detail-title"),
    detailEmpty: $("#detail-empty"),
  });
  const applyFilter = setupFilter(connection, view);
  new PublishForm($("#publish-form"), connection);
  const mqtt = new MqttPanel($("#mqtt-panel"));
  const stats = new StatsPanel(
    $("#stats-panel"),
    () =>
      [...view.store.entries.values()]
        .filter((entry) => entry.offset !== null)
        .sort((a, b) => (a.subject < b.subject ? -1 : 1))
        .map((entry) => [entry.subject, entry.offset, entry.epoch]),
    mqtt,
  );
  stats.start();
  applyFilter();
  new LedPanel($("#led-panel"), leds).start((problem) => {
    const error = $("#filter-error");
    error.hidden = false;
    error.textContent = problem;
  });
  window.earlgateDashboard = { view, stats, connection, mqtt };
}

main();
