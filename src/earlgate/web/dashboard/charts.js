// Sparklines and small time-series charts on <canvas>: no library needed.

import { fitCanvas, PALETTE } from "../common/canvas.js";

/** Each series scaled to its own range (shapes, not magnitudes), one colour each. */
export function drawSparkline(canvas, seriesList) {
  const { ctx, width, height } = fitCanvas(canvas);
  seriesList.forEach((points, index) => {
    if (points.length < 2) return;
    let min = Infinity;
    let max = -Infinity;
    for (const v of points) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const span = max - min || 1;
    ctx.beginPath();
    ctx.strokeStyle = PALETTE[index % PALETTE.length];
    ctx.lineWidth = 1.25;
    points.forEach((v, i) => {
      const x = (i / (points.length - 1)) * (width - 2) + 1;
      const y = height - 2 - ((v - min) / span) * (height - 4);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  });
}

function nice(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 100 || Number.isInteger(value)) return String(Math.round(value));
  if (abs >= 1) return value.toFixed(1);
  return value.toPrecision(2);
}

/**
 * A line chart of a few series over the last ``points`` samples, y from 0 to
 * a rounded maximum; the legend is HTML beside it (readable, not painted).
 */
export class TimeChart {
  constructor(canvas, legend, labels, { points = 120, least = 30 } = {}) {
    this.canvas = canvas;
    this.legend = legend;
    this.labels = labels;
    this.points = points;
    this.least = least; // the x axis spans at least this many samples
    this.series = labels.map(() => []);
    this.renderLegend([]);
  }

  setLabels(labels) {
    if (labels.join("\n") === this.labels.join("\n")) return;
    const old = new Map(this.labels.map((label, i) => [label, this.series[i]]));
    this.labels = labels;
    this.series = labels.map((label) => old.get(label) ?? []);
  }

  push(values) {
    values.forEach((value, i) => {
      const points = this.series[i];
      points.push(Number.isFinite(value) ? value : null);
      if (points.length > this.points) points.shift();
    });
    this.renderLegend(values);
  }

  renderLegend(values) {
    if (!this.legend) return;
    this.legend.replaceChildren(
      ...this.labels.map((label, i) => {
        const item = document.createElement("span");
        item.className = "key";
        item.style.setProperty("--key", PALETTE[i % PALETTE.length]);
        item.textContent = `${label} ${formatNumber(values[i])}`;
        return item;
      }),
    );
  }

  draw() {
    if (!this.canvas.isConnected || this.canvas.clientWidth === 0) return;
    const { ctx, width, height } = fitCanvas(this.canvas);
    let max = 0;
    for (const points of this.series) for (const v of points) if (v !== null && v > max) max = v;
    max = nice(max * 1.1);
    const left = 34;
    const plotW = width - left - 4;
    const plotH = height - 8;
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = "#8a97a8";
    ctx.strokeStyle = "rgba(138,151,168,0.25)";
    ctx.lineWidth = 1;
    for (const fraction of [0, 0.5, 1]) {
      const y = 4 + plotH * (1 - fraction);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(width - 4, y);
      ctx.stroke();
      ctx.fillText(formatNumber(max * fraction), 2, y + 3);
    }
    const span = Math.max(this.least, ...this.series.map((points) => points.length));
    this.series.forEach((points, index) => {
      ctx.beginPath();
      ctx.strokeStyle = PALETTE[index % PALETTE.length];
      ctx.lineWidth = 1.5;
      let started = false;
      points.forEach((v, i) => {
        if (v === null) {
          started = false;
          return;
        }
        const x = left + plotW * ((i + span - points.length) / (span - 1));
        const y = 4 + plotH * (1 - v / max);
        if (!started) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
        started = true;
      });
      ctx.stroke();
    });
  }
}
