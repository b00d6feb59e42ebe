// What the pages' canvas charts share: one palette (the --accent, --warn and
// --ok of common/base.css first) and a canvas whose backing store matches its
// CSS box, so lines stay sharp on high-DPI screens. No library.

export const PALETTE = ["#4fc3f7", "#ffb74d", "#81c784", "#f06292", "#ba68c8", "#fff176"];

/** Size `canvas` to its CSS box, clear it; a context drawing in CSS pixels. */
export function fitCanvas(canvas) {
  const ratio = globalThis.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.scale(ratio, ratio);
  return { ctx, width: width / ratio, height: height / ratio };
}
