// The server is the source of truth: the composer's content is posted to the check endpoint as
// the marketer types (debounced), and its answer (problems per field, the preview and the JSON
// request body) is shown where it belongs.
import { debounce, h } from "./dom.js";

export class Checker {
  constructor({ form, url, onResult, onError }) {
    Object.assign(this, { form, url, onResult, onError });
    this.sequence = 0;
    this.controller = null;
    this.schedule = debounce(() => this.run(), 300);
  }

  async run() {
    const mine = ++this.sequence;
    this.controller?.abort();
    this.controller = new AbortController();
    const body = new FormData(this.form);
    body.delete("action");
    body.delete("to");
    try {
      const response = await fetch(this.url, {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        signal: this.controller.signal,
      });
      const type = response.headers.get("Content-Type") || "";
      if (!response.ok || !type.includes("application/json")) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      if (mine === this.sequence) this.onResult(data);
    } catch (error) {
      if (error.name !== "AbortError" && mine === this.sequence) this.onError(error);
    }
  }
}

/** Put each problem next to its field, mark the field, and return those with no field shown. */
export function showProblems(form, problems) {
  for (const box of form.querySelectorAll("[data-problems-for]")) {
    if (box.dataset.problemsFor !== "to") box.replaceChildren();
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    if (input.name !== "to") {
      input.removeAttribute("aria-invalid");
      input.classList.remove("is-invalid");
    }
  }
  const unplaced = [];
  for (const problem of problems) {
    const box = form.querySelector(`[data-problems-for="${CSS.escape(problem.field)}"]`);
    if (!box) {
      unplaced.push(problem);
      continue;
    }
    box.append(h("p", { class: `problem problem-${problem.level}`, text: problem.message }));
    if (problem.level === "error") {
      const input =
        form.querySelector(`[name="${CSS.escape(problem.field)}"]:not([type=hidden])`) ||
        form.querySelector(`[data-field="${CSS.escape(problem.field)}"]`);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.classList.add("is-invalid");
      }
    }
  }
  return unplaced;
}

/** The summary near the send buttons: how many things keep the campaign from being sent. */
export function renderSummary(summary, problems, errors) {
  const items = problems.map((problem) =>
    h(
      "li",
      { class: `problem-${problem.level}` },
      h("strong", { text: problem.level === "error" ? "Must fix: " : "Warning: " }),
      problem.message,
    ),
  );
  const heading = errors
    ? h("p", {
        class: "fw-semibold text-danger mb-1",
        text: `${errors} thing${errors === 1 ? " keeps" : "s keep"} this campaign from being sent:`,
      })
    : h("p", { class: "text-success mb-1", text: "No problems: ready to send." });
  const next = [heading, items.length ? h("ul", { class: "problem-list" }, items) : null].filter(Boolean);
  // Replace only what changed, so the live region speaks only when there is news.
  const text = next.map((el) => el.textContent).join("|");
  if (summary.dataset.text !== text) {
    summary.dataset.text = text;
    summary.replaceChildren(...next);
  }
}
