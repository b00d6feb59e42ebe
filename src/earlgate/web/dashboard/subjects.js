// The live subject tree and a subject's history: DOM work batched per frame.
import { drawSparkline, formatNumber } from "./charts.js";
import { PALETTE } from "../common/canvas.js";
import { diff, SubjectStore } from "./model.js";

const VALUE_CHARS = 140;
const DETAIL_EVERY_MS = 250;

function sortKey(path) {
  return path.split("/").join("\u0001");
}

function text(value, max = VALUE_CHARS) {
  const json = JSON.stringify(value) ?? "null";
  return json.length > max ? `${json.slice(0, max - 1)}…` : json;
}

function age(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms / 100) / 10).toFixed(1)} s`;
  if (ms < 60000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3600000) return `${Math.round(ms / 60000)} min`;
  return `${Math.round(ms / 3600000)} h`;
}

function element(tag, className, content) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (content !== undefined) el.textContent = content;
  return el;
}

class TreeNode {
  constructor(view, path) {
    this.view = view;
    this.path = path;
    const levels = path.split("/");
    this.name = levels[levels.length - 1];
    this.depth = levels.length - 1;
    this.children = 0;
    this.collapsed = false;
    this.entry = null;
    this.el = element("div", "node");
    this.el.setAttribute("role", "listitem");
    this.el.dataset.path = path;
    this.el.style.setProperty("--depth", String(this.depth));
    this.twisty = element("button", "twisty");
    this.twisty.type = "button";
    this.twisty.addEventListener("click", () => view.toggle(this));
    this.label = element("span", "name", this.name);
    this.el.append(this.twisty, this.label);
    this.updateTwisty();
  }

  updateTwisty() {
    const has = this.children > 0;
    this.twisty.hidden = !has;
    this.twisty.textContent = this.collapsed ? "▸" : "▾";
    this.twisty.setAttribute("aria-expanded", String(!this.collapsed));
    this.twisty.setAttribute("aria-label", `${this.collapsed ? "Expand" : "Collapse"} ${this.path}`);
  }

  attach(entry) {
    this.entry = entry;
    this.el.classList.add("subject");
    this.el.dataset.subject = entry.subject;
    const name = element("button", "name", this.name);
    name.type = "button";
    name.title = entry.subject;
    name.setAttribute("aria-label", `${entry.subject}: show history`);
    name.addEventListener("click", () => this.view.select(entry.subject));
    this.label.replaceWith(name);
    this.label = name;
    this.badge = element("span", "badge", "retained");
    this.badge.hidden = true;
    this.value = element("code", "value");
    this.rate = element("span", "rate");
    this.age = element("span", "age");
    this.spark = element("canvas", "spark");
    this.spark.setAttribute("aria-hidden", "true");
    this.el.append(this.badge, this.value, this.rate, this.age, this.spark);
  }

  render() {
    const entry = this.entry;
    if (!entry) return;
    this.badge.hidden = !entry.retained;
    this.el.classList.toggle("cleared", entry.cleared);
    this.value.textContent = entry.cleared ? "(cleared)" : text(entry.data);
    const series = [...entry.series.values()];
    this.spark.hidden = series.length === 0;
    if (series.length > 0 && !this.el.hidden) drawSparkline(this.spark, series);
  }

  tick(now) {
    if (!this.entry) return;
    this.age.textContent = age(now - this.entry.lastAt);
    this.rate.textContent = `${formatNumber(this.entry.rate(now))}/s`;
  }
}

export class SubjectsView {
  constructor({ tree, history, detailTitle, detailEmpty }) {
    this.store = new SubjectStore();
    this.treeEl = tree;
    this.historyEl = history;
    this.detailTitle = detailTitle;
    this.detailEmpty = detailEmpty;
    this.nodes = new Map();
    this.selected = null;
    this.detailDirty = false;
    this.detailAt = 0;
    this.scheduled = false;
    this.frame = () => this.render();
    // Only rows on screen are drawn: thousands of subjects at 4 Hz would
    // otherwise spend the page's time on rows nobody sees. A row that comes
    // into view is drawn then if it changed meanwhile.
    this.visible = new Set();
    this.stale = new Set();
    this.observer =
      typeof IntersectionObserver === "function"
        ? new IntersectionObserver((changes) => this.seen(changes))
        : null;
    setInterval(() => this.tick(), 500);
  }

  seen(changes) {
    const now = Date.now();
    for (const change of changes) {
      const node = this.nodes.get(change.target.dataset.path);
      if (!node || node.el !== change.target) continue;
      if (!change.isIntersecting) {
        this.visible.delete(node);
        continue;
      }
      this.visible.add(node);
      node.tick(now);
      if (this.stale.delete(node)) node.render();
    }
  }

  onScreen(node) {
    return this.observer === null || this.visible.has(node);
  }

  /** A message arrived: remember it; the DOM follows at the next frame. */
  add(message) {
    const entry = this.store.add(message);
    if (entry.subject === this.selected) this.detailDirty = true;
    this.schedule();
  }

  /** The filter changed to ``pattern``: forget what it does not match. */
  refilter(pattern) {
    this.store.retain(pattern);
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(this.frame);
  }

  render() {
    this.scheduled = false;
    if (this.store.added) {
      this.store.added = false;
      this.reshape();
    }
    for (const entry of this.store.takeDirty()) {
      const node = this.nodes.get(entry.subject);
      if (!node) continue;
      if (this.onScreen(node)) node.render();
      else this.stale.add(node);
    }
    const now = performance.now();
    if (this.detailDirty && now - this.detailAt >= DETAIL_EVERY_MS) {
      this.detailDirty = false;
      this.detailAt = now;
      this.renderDetail();
    } else if (this.detailDirty) {
      this.schedule();
    }
  }

  /** Subjects came or went: the nodes (each subject and its prefixes), in tree order. */
  reshape() {
    const wanted = new Set();
    for (const subject of this.store.entries.keys()) {
      const levels = subject.split("/");
      for (let i = 1; i <= levels.length; i++) wanted.add(levels.slice(0, i).join("/"));
    }
    for (const [path, node] of this.nodes) {
      const entry = this.store.entries.get(path);
      if (!wanted.has(path) || (node.entry && node.entry !== entry)) {
        node.el.remove();
        this.nodes.delete(path);
        this.observer?.unobserve(node.el);
        this.visible.delete(node);
        this.stale.delete(node);
      }
    }
    for (const path of wanted) {
      let node = this.nodes.get(path);
      if (!node) {
        node = new TreeNode(this, path);
        this.nodes.set(path, node);
        this.observer?.observe(node.el);
      }
      const entry = this.store.entries.get(path);
      if (entry && !node.entry) {
        node.attach(entry);
        node.render();
      }
      node.children = 0;
    }
    for (const path of this.nodes.keys()) {
      const cut = path.lastIndexOf("/");
      if (cut > 0) {
        const parent = this.nodes.get(path.slice(0, cut));
        if (parent) parent.children += 1;
      }
    }
    const ordered = [...this.nodes.values()].sort((a, b) =>
      sortKey(a.path) < sortKey(b.path) ? -1 : 1,
    );
    const hiddenUnder = [];
    for (const node of ordered) {
      while (hiddenUnder.length && !node.path.startsWith(`${hiddenUnder.at(-1)}/`)) hiddenUnder.pop();
      node.el.hidden = hiddenUnder.length > 0;
      if (node.collapsed) hiddenUnder.push(node.path);
      node.updateTwisty();
    }
    this.treeEl.replaceChildren(...ordered.map((node) => node.el));
    this.tick();
    if (this.selected && !this.store.entries.has(this.selected)) this.select(null);
  }

  toggle(node) {
    node.collapsed = !node.collapsed;
    this.store.added = true;
    this.schedule();
  }

  tick() {
    const now = Date.now();
    const nodes = this.observer === null ? this.nodes.values() : this.visible;
    for (const node of nodes) if (!node.el.hidden) node.tick(now);
  }

  select(subject) {
    for (const node of this.nodes.values()) {
      node.el.classList.toggle("selected", node.path === subject && node.entry !== null);
    }
    this.selected = subject;
    this.detailDirty = false;
    this.renderDetail();
  }

  renderDetail() {
    const entry = this.selected ? this.store.entries.get(this.selected) : null;
    this.detailEmpty.hidden = Boolean(entry);
    this.detailTitle.textContent = entry ? `History of ${entry.subject}` : "History";
    if (!entry) {
      this.historyEl.replaceChildren();
      return;
    }
    const items = [];
    const history = entry.history;
    for (let i = history.length - 1; i >= 0; i--) {
      const message = history[i];
      const item = element("li", "message");
      const head = element("div", "message-head");
      head.append(element("time", "", new Date(message.at).toLocaleTimeString()));
      if (message.retained) head.append(element("span", "badge", "retained"));
      if (message.offset !== null) head.append(element("span", "offset", `offset ${message.offset}`));
      item.append(head, element("code", "value", text(message.data, 400)));
      if (i > 0) {
        if (!message.changes) message.changes = diff(history[i - 1].data, message.data);
        const list = element("ul", "diff");
        for (const change of message.changes.slice(0, 12)) {
          const line = element("li", change.kind);
          line.textContent =
            change.kind === "changed" ? `${change.path}: ${change.from} → ${change.to}`
              : change.kind === "added" ? `+ ${change.path}: ${change.to}`
                : `− ${change.path}: ${change.from}`;
          list.append(line);
        }
        if (message.changes.length === 0) list.append(element("li", "same", "no change"));
        item.append(list);
      }
      items.push(item);
    }
    this.historyEl.replaceChildren(...items);
    const legend = [...entry.series.keys()];
    if (legend.length) {
      const keys = element("li", "spark-keys");
      legend.forEach((path, i) => {
        const key = element("span", "key", path);
        key.style.setProperty("--key", PALETTE[i % PALETTE.length]);
        keys.append(key);
      });
      this.historyEl.prepend(keys);
    }
  }
}
