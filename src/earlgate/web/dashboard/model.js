// What the dashboard knows about each subject, bounded: pure, no DOM.

export const HISTORY = 50; // messages kept per subject (for the history and its diffs)
export const POINTS = 60; // sparkline points per numeric field
export const FIELDS = 4; // numeric fields drawn per subject
export const RATE_WINDOW = 32; // arrival times kept per subject for its rate
export const MAX_SUBJECTS = 5000; // beyond, the least recently updated subjects are forgotten

/** Whether ``subject`` matches the MQTT-style ``pattern`` (both valid). */
export function matches(pattern, subject) {
  const p = pattern.split("/");
  const s = subject.split("/");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "#") return true;
    if (i >= s.length) return false;
    if (p[i] !== "+" && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** The numeric leaves of ``data`` as [path, value] pairs, at most ``limit`` of them. */
export function numericLeaves(data, limit = FIELDS) {
  const out = [];
  const walk = (value, path, depth) => {
    if (out.length >= limit) return;
    if (typeof value === "number" && Number.isFinite(value)) out.push([path || "value", value]);
    else if (value && typeof value === "object" && depth < 4) {
      for (const [key, child] of Object.entries(value)) {
        if (out.length >= limit) return;
        walk(child, path ? `${path}.${key}` : key, depth + 1);
      }
    }
  };
  walk(data, "", 0);
  return out;
}

/** Every leaf of ``data`` by its dotted path, as JSON text (for diffs). */
export function flatten(data, out = new Map(), path = "", depth = 0) {
  if (data && typeof data === "object" && depth < 8 && Object.keys(data).length > 0) {
    for (const [key, child] of Object.entries(data)) {
      flatten(child, out, path ? `${path}.${key}` : key, depth + 1);
    }
  } else {
    out.set(path || "(value)", JSON.stringify(data) ?? "null");
  }
  return out;
}

/** What changed from ``before`` to ``after``: [{path, kind: "changed"|"added"|"removed", from, to}]. */
export function diff(before, after) {
  const a = flatten(before);
  const b = flatten(after);
  const changes = [];
  for (const [path, to] of b) {
    if (!a.has(path)) changes.push({ path, kind: "added", from: null, to });
    else if (a.get(path) !== to) changes.push({ path, kind: "changed", from: a.get(path), to });
  }
  for (const [path, from] of a) {
    if (!b.has(path)) changes.push({ path, kind: "removed", from, to: null });
  }
  return changes;
}

export class SubjectEntry {
  constructor(subject) {
    this.subject = subject;
    this.data = null;
    this.retained = false;
    this.count = 0;
    this.lastAt = 0;
    this.times = [];
    this.history = [];
    this.series = new Map();
    this.offset = null;
    this.epoch = null;
  }

  add(message, now) {
    this.count += 1;
    this.data = message.data;
    this.retained = message.retained;
    this.lastAt = now;
    if (message.offset !== null) {
      this.offset = message.offset;
      this.epoch = message.epoch;
    }
    this.times.push(now);
    if (this.times.length > RATE_WINDOW) this.times.shift();
    this.history.push({ at: now, ...message });
    if (this.history.length > HISTORY) this.history.shift();
    for (const [path, value] of numericLeaves(message.data)) {
      let points = this.series.get(path);
      if (!points) {
        if (this.series.size >= FIELDS) continue;
        points = [];
        this.series.set(path, points);
      }
      points.push(value);
      if (points.length > POINTS) points.shift();
    }
  }

  /** Messages per second over the last few arrivals, decaying once they stop. */
  rate(now) {
    const n = this.times.length;
    if (n < 2) return 0;
    const first = this.times[0];
    const last = this.times[n - 1];
    const interval = (last - first) / (n - 1);
    // Once messages stop coming, the rate decays with the time since the first.
    const span = now - last > 2 * interval ? now - first : last - first;
    return span > 0 ? ((n - 1) * 1000) / span : 0;
  }

  /** A retained publish without data, which deleted the hub's value ("Delete retained"). */
  get cleared() {
    return this.retained && this.data === null;
  }
}

export class SubjectStore {
  constructor({ maxSubjects = MAX_SUBJECTS } = {}) {
    this.entries = new Map();
    this.maxSubjects = maxSubjects;
    this.dirty = new Set();
    this.added = false; // a subject appeared or went: the tree's shape changed
  }

  add(message, now = Date.now()) {
    let entry = this.entries.get(message.subject);
    if (!entry) {
      if (this.entries.size >= this.maxSubjects) this.forgetOldest();
      entry = new SubjectEntry(message.subject);
      this.entries.set(message.subject, entry);
      this.added = true;
    }
    entry.add(message, now);
    this.dirty.add(entry);
    return entry;
  }

  forgetOldest() {
    let oldest = null;
    for (const entry of this.entries.values()) {
      if (oldest === null || entry.lastAt < oldest.lastAt) oldest = entry;
    }
    if (oldest) this.remove(oldest.subject);
  }

  remove(subject) {
    const entry = this.entries.get(subject);
    if (!entry) return;
    this.entries.delete(subject);
    this.dirty.delete(entry);
    this.added = true;
  }

  /** Keep only what ``pattern`` matches (after the filter changed). */
  retain(pattern) {
    for (const subject of [...this.entries.keys()]) {
      if (!matches(pattern, subject)) this.remove(subject);
    }
  }

  takeDirty() {
    const dirty = this.dirty;
    this.dirty = new Set();
    return dirty;
  }
}
