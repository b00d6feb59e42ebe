// The publish form: the subject and the JSON checked as you type; the ack or the error shown.
import { describeError, subjectProblem } from "./connection.js";

/** ``text`` as JSON data: {ok, data} or {ok: false, error}. Empty text is null. */
export function parseData(text) {
  if (text.trim() === "") return { ok: true, data: null };
  try {
    return { ok: true, data: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

export class PublishForm {
  constructor(form, connection) {
    this.form = form;
    this.connection = connection;
    this.subject = form.querySelector("#pub-subject");
    this.data = form.querySelector("#pub-data");
    this.retain = form.querySelector("#pub-retain");
    this.send = form.querySelector("#pub-send");
    this.clear = form.querySelector("#pub-clear");
    this.result = form.querySelector("#pub-result");
    this.subjectError = form.querySelector("#pub-subject-error");
    this.dataError = form.querySelector("#pub-data-error");
    this.subject.addEventListener("input", () => this.check());
    this.data.addEventListener("input", () => this.check());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.clear.addEventListener("click", () => this.clearRetained());
    this.check();
  }

  /** Show what is wrong; true when the form can be sent. */
  check() {
    const subject = subjectProblem(this.subject.value);
    const parsed = parseData(this.data.value);
    this.show(this.subject, this.subjectError, subject);
    this.show(this.data, this.dataError, parsed.ok ? null : `Not JSON: ${parsed.error}`);
    this.send.disabled = subject !== null || !parsed.ok;
    this.clear.disabled = subject !== null;
    return subject === null && parsed.ok ? parsed : null;
  }

  show(input, out, problem) {
    out.hidden = problem === null;
    out.textContent = problem ?? "";
    input.setAttribute("aria-invalid", String(problem !== null));
  }

  submit() {
    const parsed = this.check();
    if (parsed === null) {
      this.report("error", "Nothing sent: fix the fields above.");
      return;
    }
    this.publish(this.subject.value, parsed.data, this.retain.checked);
  }

  clearRetained() {
    if (subjectProblem(this.subject.value) !== null) return;
    // A retained publish without data deletes the hub's retained value (docs/hub.md).
    this.publish(this.subject.value, null, true);
  }

  async publish(subject, data, retain) {
    this.report("pending", `Publishing to ${subject}…`);
    const started = performance.now();
    try {
      await this.connection.publish(subject, data, { retain });
      const ms = (performance.now() - started).toFixed(1);
      const what = retain && data === null ? "retained value deleted" : retain ? "ack (retained)" : "ack";
      this.report("ok", `${what}: ${subject} in ${ms} ms`);
    } catch (error) {
      this.report("error", `Refused: ${describeError(error)}`);
    }
  }

  report(kind, message) {
    this.result.dataset.kind = kind;
    this.result.textContent = message;
  }
}
