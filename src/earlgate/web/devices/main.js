// The /devices page: this tab as a Bluetooth gateway for the hub it came from.
// The hub is the page's own origin (ws://host/ws, wss:// over https); a token
// (hub with --auth-secret) lives in sessionStorage for this tab only and is
// never put in the URL. Parameters: ?prefix= (device name filter, default
// "earl-", empty for any Earl device), ?poll=auto|always|never, ?poll-ms=.
import { HubClient } from "/earlgate.js";
import { mountBlePanel } from "/ble/panel.js";

const TOKEN_KEY = "earlgate.devices.token";
const $ = (selector) => document.querySelector(selector);

export function hubUrl(loc = window.location) {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}

function getToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) || null;
  } catch {
    return null;
  }
}

function setupToken() {
  const input = $("#token");
  if (getToken()) input.placeholder = "a token is set for this tab";
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
    window.location.reload();
  });
  $("#token-clear").addEventListener("click", () => {
    window.sessionStorage.removeItem(TOKEN_KEY);
    window.location.reload();
  });
}

function showHub(state) {
  const pill = $("#conn");
  pill.dataset.state = state;
  pill.textContent = { connected: "hub: connected", connecting: "hub: connecting…" }[state] ?? "hub: disconnected, retrying";
  pill.title = state === "disconnected" && !getToken() ? "If the hub runs with --auth-secret, give it a token." : "";
}

function options(params) {
  const out = {};
  if (params.has("prefix")) out.namePrefix = params.get("prefix");
  if (params.has("poll")) out.poll = params.get("poll");
  if (params.has("poll-ms")) out.pollMs = Number(params.get("poll-ms"));
  if (params.has("read-timeout-ms")) out.readTimeoutMs = Number(params.get("read-timeout-ms"));
  return out;
}

function main() {
  setupToken();
  const hub = new HubClient(hubUrl(), getToken() ? { getToken } : {});
  for (const state of ["connecting", "connected", "disconnected"]) hub.on(state, () => showHub(state));
  const ready = Promise.resolve(hub.connected).then(() => showHub("connected"));
  ready.catch(() => {});
  let panel;
  try {
    panel = mountBlePanel($("#ble"), { hub, ...options(new URLSearchParams(window.location.search)) });
  } catch (error) {
    $("#ble").textContent = `The device panel could not start: ${error.message}`;
    throw error;
  }
  window.earlgateDevices = { hub, gateway: panel.gateway, ready, statistics: () => panel.gateway.statistics() };
}

main();
