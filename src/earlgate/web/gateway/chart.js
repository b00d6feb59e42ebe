// A small live chart on <canvas>: the last minute of one or two series, each
// on its own scale (rate on the left, delay on the right). No library.

import { fitCanvas, PALETTE } from "../common/canvas.js";

function label(value) {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/**
 * Draw `series` ([{points: number[], colour?, unit?}]) over `slots` samples,
 * the newest at the right; each series scaled from 0 to its own maximum,
 * which is written in its corner.
 */
export function drawChart(canvas, series, slots = 60) {
  if (!canvas.clientWidth) return;
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.strokeStyle = "#2a3442";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, height - 0.5);
  ctx.lineTo(width, height - 0.5);
  ctx.stroke();
  ctx.font = "11px system-ui, sans-serif";
  series.forEach((line, index) => {
    const points = line.points.slice(-slots);
    if (!points.length) return;
    const max = Math.max(...points, 1e-9);
    const colour = line.colour ?? PALETTE[index % PALETTE.length];
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    const step = (width - 2) / Math.max(1, slots - 1);
    const start = width - 1 - (points.length - 1) * step;
    points.forEach((value, i) => {
      const x = start + i * step;
      const y = height - 3 - (value / max) * (height - 16);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = colour;
    const text = `${label(max)}${line.unit ?? ""}`;
    ctx.textAlign = index === 0 ? "left" : "right";
    ctx.fillText(text, index === 0 ? 2 : width - 2, 11);
  });
}
