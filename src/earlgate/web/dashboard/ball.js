// The ball-probe: each LED module publishing …/led/state (retained, docs/led.md)
// drawn as a ball with its two RGB LEDs, animated as the TCA6507 shows them,
// and controls that publish commands on the command subject (the state
// subject without /state); answers on …/led/error are shown beside them.
import { describeError } from "./connection.js";

const LEDS = ["lower", "upper"];
const STATE_PATTERNS = ["+/led/state", "+/+/led/state", "+/+/+/led/state"];
const ERROR_PATTERNS = STATE_PATTERNS.map((p) => p.replace(/state$/, "error"));
// Where each LED sits on the drawn ball (CSS pixels of its 160×200 canvas).
const SPOT = { upper: [80, 66], lower: [80, 134] };

/** A bank's eight segments (A fade-on, B on, C fade-off, D first off, ... E second off), level 0-15. */
export function blinkLevel(blink, peak, elapsedMs) {
  const a = blink.fade_ms ?? 0;
  const b = blink.on_ms ?? 0;
  const c = blink.fade_off_ms ?? a;
  const d = blink.off_ms ?? 0;
  const e = blink.second_off_ms ?? d;
  const period = 2 * (a + b + c) + d + e;
  if (period <= 0 || elapsedMs < 0 || (blink.once && elapsedMs >= period)) return 0;
  let phase = elapsedMs % period;
  for (const [kind, length] of [["up", a], ["on", b], ["down", c], ["off", d], ["up", a], ["on", b], ["down", c], ["off", e]]) {
    if (phase < length) {
      if (kind === "on") return peak;
      if (kind === "up") return Math.min(peak, Math.floor((peak * phase) / length));
      if (kind === "down") return Math.max(0, peak - Math.floor((peak * phase) / length));
      return 0;
    }
    phase -= length;
  }
  return 0;
}

/** What ``led`` (its state entry) shows ``elapsedMs`` into its pattern: three levels 0-15. */
export function shownLevels(led, elapsedMs) {
  const color = led?.color ?? [0, 0, 0];
  if (!led?.blink) return color.slice(0, 3);
  return color.slice(0, 3).map((peak) => blinkLevel(led.blink, peak, elapsedMs));
}

function element(tag, className, content) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (content !== undefined) el.textContent = content;
  return el;
}

function describeLed(led) {
  if (!led) return "unknown";
  const [r, g, b] = led.color ?? [0, 0, 0];
  const colour = r + g + b === 0 ? "off" : `${r} ${g} ${b}`;
  if (!led.blink) return colour === "off" ? "off" : `${colour}, steady`;
  const t = led.blink;
  const fade = t.fade_ms ? `, fade ${t.fade_ms}` : "";
  return `${colour}, blink ${t.on_ms}/${t.off_ms} ms${fade}${t.once ? ", once" : ""}`;
}

let nextId = Math.floor(Math.random() * 1e6) * 1000;

class Ball {
  constructor(panel, stateSubject) {
    this.panel = panel;
    this.stateSubject = stateSubject;
    this.subject = stateSubject.slice(0, -"/state".length);
    this.state = null;
    this.starts = { lower: 0, upper: 0 };
    this.signatures = { lower: "", upper: "" };
    this.waiting = new Map(); // command id -> what it asked
    this.build();
  }

  build() {
    const slug = this.subject.replace(/[^A-Za-z0-9_-]/g, "-");
    const root = element("article", "ball");
    root.dataset.subject = this.subject;
    root.setAttribute("aria-labelledby", `ball-${slug}`);
    const title = element("h3", "", this.subject);
    title.id = `ball-${slug}`;
    const body = element("div", "ball-body");
    this.canvas = element("canvas", "ball-canvas");
    this.canvas.width = 160;
    this.canvas.height = 200;
    this.canvas.setAttribute("role", "img");
    for (const led of LEDS) this.canvas.dataset[`${led}At`] = SPOT[led].join(",");
    this.states = element("dl", "led-states");
    this.ledText = {};
    for (const led of [...LEDS].reverse()) {
      const row = element("div");
      row.append(element("dt", "", led));
      this.ledText[led] = element("dd", "", "…");
      this.ledText[led].dataset.led = led;
      row.append(this.ledText[led]);
      this.states.append(row);
    }
    this.registers = element("p", "registers muted");
    const info = element("div", "ball-info");
    info.append(this.states, this.registers);
    body.append(this.canvas, info);

    const form = element("form", "led-controls");
    form.noValidate = true;
    const id = (name) => `${slug}-${name}`;
    form.innerHTML = `
      <fieldset class="which"><legend>LED</legend>
        <label><input type="radio" name="led" value="lower" checked> lower</label>
        <label><input type="radio" name="led" value="upper"> upper</label>
      </fieldset>
      <fieldset class="colour"><legend>Colour, 0-15 per channel</legend>
        ${["red", "green", "blue"].map((c, i) => `
        <label for="${id(c)}">${c[0].toUpperCase()}</label>
        <input id="${id(c)}" name="${c}" type="range" min="0" max="15" step="1" value="${[15, 8, 0][i]}">
        <output for="${id(c)}" name="${c}-out">${[15, 8, 0][i]}</output>`).join("")}
        <span class="swatch" aria-hidden="true"></span>
      </fieldset>
      <div class="buttons">
        <button type="submit" name="action" value="set">Set colour</button>
        <button type="button" data-action="up" aria-label="Brighter">Brighter ▲</button>
        <button type="button" data-action="down" aria-label="Dimmer">Dimmer ▼</button>
        <button type="button" data-action="off">Off</button>
        <button type="button" data-action="all-off">All off</button>
      </div>
      <fieldset class="blink"><legend>Blink</legend>
        <label for="${id("on")}">on ms</label><input id="${id("on")}" name="on_ms" type="number" min="0" step="64" value="512">
        <label for="${id("off")}">off ms</label><input id="${id("off")}" name="off_ms" type="number" min="0" step="64" value="1024">
        <label for="${id("fade")}">fade ms</label><input id="${id("fade")}" name="fade_ms" type="number" min="0" step="64" value="0">
        <label class="check"><input name="once" type="checkbox"> once</label>
        <button type="button" data-action="blink">Blink</button>
      </fieldset>`;
    this.form = form;
    this.swatch = form.querySelector(".swatch");
    form.addEventListener("input", () => this.syncOutputs());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(this.command("set"));
    });
    form.addEventListener("click", (event) => {
      const action = event.target instanceof Element ? event.target.closest("[data-action]") : null;
      if (action) this.send(this.command(action.dataset.action));
    });
    this.syncOutputs();
    this.status = element("p", "led-status");
    this.status.setAttribute("role", "status");
    this.error = element("p", "led-error error");
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;
    root.append(title, body, form, this.status, this.error);
    this.root = root;
  }

  syncOutputs() {
    const levels = ["red", "green", "blue"].map((c) => {
      const value = Number(this.form.elements[c].value);
      this.form.elements[`${c}-out`].value = String(value);
      return value;
    });
    this.swatch.style.background = `rgb(${levels.map((l) => l * 17).join(",")})`;
  }

  command(action) {
    const elements = this.form.elements;
    const led = elements.led.value;
    const color = ["red", "green", "blue"].map((c) => Number(elements[c].value));
    if (action === "set") return { led, color };
    if (action === "up" || action === "down") return { led, brightness: action };
    if (action === "off") return { led, off: true };
    if (action === "all-off") return { led: "all", off: true };
    const blink = {
      on_ms: Number(elements.on_ms.value) || 0,
      off_ms: Number(elements.off_ms.value) || 0,
      fade_ms: Number(elements.fade_ms.value) || 0,
    };
    if (elements.once.checked) blink.once = true;
    return { led, color, blink };
  }

  async send(command) {
    const id = ++nextId;
    const sent = { id, ...command };
    this.waiting.set(id, sent);
    if (this.waiting.size > 50) this.waiting.delete(this.waiting.keys().next().value);
    this.status.textContent = `#${id} sent…`;
    try {
      await this.panel.connection.publish(this.subject, sent);
      if (this.waiting.has(id)) this.status.textContent = `#${id} sent, waiting for the module`;
    } catch (error) {
      this.waiting.delete(id);
      this.showError(`#${id} not sent: ${describeError(error)}`);
    }
  }

  showError(text) {
    this.error.hidden = false;
    this.error.textContent = text;
  }

  onState(data) {
    if (!data || typeof data !== "object" || !data.leds) return;
    this.state = data;
    const written = typeof data.written_at === "number" ? data.written_at : Date.now();
    for (const led of LEDS) {
      const shown = data.leds[led];
      const signature = JSON.stringify(shown ?? null);
      const touched = data.applied && led in data.applied;
      if (signature !== this.signatures[led] || touched) {
        if (shown?.blink) this.starts[led] = written;
        this.signatures[led] = signature;
      }
      this.ledText[led].textContent = describeLed(shown);
      this.ledText[led].dataset.color = (shown?.color ?? [0, 0, 0]).join(",");
      this.ledText[led].dataset.blink = shown?.blink ? "on" : "off";
    }
    this.registers.textContent = `registers ${data.registers ?? "?"} · state ${data.seq ?? "?"}`;
    this.canvas.setAttribute(
      "aria-label",
      `${this.subject}: upper ${describeLed(data.leds.upper)}; lower ${describeLed(data.leds.lower)}`,
    );
    const id = data.command?.id;
    if (id !== undefined && this.waiting.has(id)) {
      this.waiting.delete(id);
      this.error.hidden = true;
      const ms = data.latency_ms?.command_to_written;
      this.status.textContent = `#${id} applied${typeof ms === "number" ? ` in ${ms.toFixed(1)} ms` : ""}`;
    }
  }

  onError(data) {
    if (!data || typeof data !== "object") return;
    const id = data.id;
    if (id !== undefined) this.waiting.delete(id);
    this.status.textContent = id !== undefined ? `#${id} not applied` : "command not applied";
    this.showError(`${data.error ?? "error"}${data.reason ? `: ${data.reason}` : ""}`);
  }

  draw(now) {
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    const shell = ctx.createRadialGradient(62, 70, 8, 80, 100, 78);
    shell.addColorStop(0, "#4a5566");
    shell.addColorStop(1, "#161c25");
    ctx.fillStyle = shell;
    ctx.beginPath();
    ctx.arc(80, 100, 72, 0, Math.PI * 2);
    ctx.fill();
    ctx.strokeStyle = "#5b6677";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(14, 100);
    ctx.lineTo(146, 100);
    ctx.stroke();
    const drawn = [];
    for (const led of LEDS) {
      const shown = this.state?.leds?.[led];
      const levels = shownLevels(shown, now - this.starts[led]);
      drawn.push(levels.join(","));
      const [x, y] = SPOT[led];
      const rgb = levels.map((l) => Math.round((l * 255) / 15));
      const strength = Math.max(...levels) / 15;
      if (strength > 0) {
        ctx.save();
        ctx.globalCompositeOperation = "lighter";
        const glow = ctx.createRadialGradient(x, y, 2, x, y, 58);
        glow.addColorStop(0, `rgba(${rgb.join(",")},${0.85 * strength})`);
        glow.addColorStop(1, `rgba(${rgb.join(",")},0)`);
        ctx.fillStyle = glow;
        ctx.beginPath();
        ctx.arc(80, 100, 72, 0, Math.PI * 2);
        ctx.fill();
        ctx.restore();
      }
      ctx.fillStyle = strength > 0 ? `rgb(${rgb.join(",")})` : "#2b323d";
      ctx.strokeStyle = "#0b0e13";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(x, y, 12, 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
    }
    const shown = drawn.join(";");
    if (this.canvas.dataset.shown !== shown) {
      this.canvas.dataset.shown = shown;
      this.canvas.dataset.lower = drawn[0];
      this.canvas.dataset.upper = drawn[1];
    }
  }
}

export class LedPanel {
  constructor(root, connection) {
    this.root = root;
    this.connection = connection;
    this.list = root.querySelector("#leds");
    this.empty = root.querySelector("#led-empty");
    this.balls = new Map();
    this.frame = () => this.animate();
  }

  async start(onProblem) {
    try {
      await Promise.all([
        ...STATE_PATTERNS.map((p) => this.connection.subscribe(p, (m) => this.onState(m), { last: true })),
        ...ERROR_PATTERNS.map((p) => this.connection.subscribe(p, (m) => this.onError(m), { last: false })),
      ]);
    } catch (error) {
      onProblem(`LED modules: ${describeError(error)}`);
    }
    requestAnimationFrame(this.frame);
  }

  ball(stateSubject) {
    let ball = this.balls.get(stateSubject);
    if (!ball) {
      ball = new Ball(this, stateSubject);
      this.balls.set(stateSubject, ball);
      const sorted = [...this.balls.keys()].sort();
      const next = this.balls.get(sorted[sorted.indexOf(stateSubject) + 1]);
      this.list.insertBefore(ball.root, next ? next.root : null);
      this.empty.hidden = true;
    }
    return ball;
  }

  onState(message) {
    this.ball(message.subject).onState(message.data);
  }

  onError(message) {
    const stateSubject = message.subject.replace(/error$/, "state");
    this.ball(stateSubject).onError(message.data);
  }

  animate() {
    const now = Date.now();
    for (const ball of this.balls.values()) ball.draw(now);
    requestAnimationFrame(this.frame);
  }
}
