// A small live chart on <canvas>: the last minute of one or two series, each
// on its own scale (rate on the left, delay on the right). No library.

export const COLOURS = ["#4fc3f7", "#ffb74d", "#81c784", "#f06292"];

function fit(canvas) {
  const ratio = globalThis.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width: width / ratio, height: height / ratio };
}

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
  const { ctx, width, height } = fit(canvas);
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
    const colour = line.colour ?? COLOURS[index % COLOURS.length];
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
