// Timers that keep time in a background tab. Browsers run a hidden tab's
// timers at most once a second (and, after minutes, once a minute); a
// dedicated worker's timers are not throttled that way, so the page asks a
// tiny worker to wake it (mqtt.js users' remedy for keep-alives in hidden
// tabs, BROWSER.md). Where there is no Worker (Node's tests) plain timers do.
// Forwarding itself needs no timer: it runs on each DataChannel message.

const WORKER = `
const timers = new Map();
onmessage = ({ data: [op, id, ms] }) => {
  if (op === "set") timers.set(id, setTimeout(() => { timers.delete(id); postMessage(id); }, ms));
  else { clearTimeout(timers.get(id)); timers.delete(id); }
};`;

/** setTimeout as {after(ms, fn) -> cancel}. */
export const plainTimers = {
  after(ms, fn) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
};

/** Timers run by a worker, or plainTimers where workers are not there. */
export function workerTimers() {
  if (typeof Worker !== "function" || typeof Blob !== "function" || typeof URL?.createObjectURL !== "function") {
    return plainTimers;
  }
  let worker;
  try {
    worker = new Worker(URL.createObjectURL(new Blob([WORKER], { type: "text/javascript" })));
  } catch {
    return plainTimers;
  }
  const pending = new Map();
  let next = 1;
  worker.onmessage = ({ data: id }) => {
    const fn = pending.get(id);
    pending.delete(id);
    fn?.();
  };
  return {
    after(ms, fn) {
      const id = next++;
      pending.set(id, fn);
      worker.postMessage(["set", id, Math.max(0, ms)]);
      return () => {
        if (pending.delete(id)) worker.postMessage(["clear", id]);
      };
    },
  };
}

/**
 * Call `fn` every `periodMs`, first at `firstMs`, on due times that do not
 * drift (each from the last due time, not from when the call ran). A tick
 * that comes very late is not repeated to catch up. Returns stop().
 */
export function every(timers, periodMs, fn, { firstMs = periodMs, now = () => performance.now() } = {}) {
  let due = now() + firstMs;
  let cancel = null;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    fn();
    due += periodMs;
    const late = now() - due;
    if (late > periodMs) due += Math.floor(late / periodMs) * periodMs;
    cancel = timers.after(due - now(), tick);
  };
  cancel = timers.after(firstMs, tick);
  return () => {
    stopped = true;
    cancel?.();
  };
}
