// The composer: wires the template values, thumbnail, sections, counters, live check, preview
// and test send together. Limits come from the server (json_script "composer-limits").
import { Checker, renderSummary, showProblems } from "./check.js";
import { announce, h, readJson, setCounter } from "./dom.js";
import { SectionsEditor } from "./sections.js";
import { SectionsState } from "./state.js";
import { attachTestSend } from "./test-send.js";
import { ThumbnailPicker } from "./thumbnail.js";
import { TemplateValues } from "./values.js";

const form = document.getElementById("composer");
if (form) start(form);

function start(form) {
  const limits = readJson("composer-limits", {});
  const templates = readJson("composer-templates", {});
  const catalog = new Map(Object.entries(readJson("composer-products", {})));
  const searchUrl = form.dataset.searchUrl;
  const state = new SectionsState(form.querySelector("#id_sections"));
  const summary = document.getElementById("check-summary");
  const needsValid = [...form.querySelectorAll("[data-needs-valid]")];
  const sendNote = document.getElementById("send-note");
  let errors = Number(form.querySelectorAll("#check-summary .problem-error").length);
  let dirty = false;

  form.prepend(
    // Enter in a text field saves the draft: it must never press "Send a test".
    h("button", { type: "submit", name: "action", value: "save", class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" }),
  );
  document.body.append(h("div", { id: "composer-announcer", class: "visually-hidden", "aria-live": "polite" }));

  const checker = new Checker({
    form,
    url: form.dataset.checkUrl,
    onResult: (data) => {
      for (const [retailerId, product] of Object.entries(data.products || {})) catalog.set(retailerId, product);
      const unplaced = showProblems(form, data.problems);
      renderSummary(summary, data.problems, data.errors);
      errors = data.errors;
      updateButtons();
      replacePreview(data.preview);
      document.getElementById("json").textContent = data.json || "Choose a template to see the request body.";
      if (unplaced.length) console.info("Problems without a field:", unplaced);
    },
    onError: () => {
      renderSummary(summary, [{ level: "error", message: "The check did not answer (your session may have ended). Save the draft to keep your work." }], 1);
    },
  });

  function changed() {
    dirty = true;
    updateCounts();
    checker.schedule();
  }

  function updateCounts() {
    setCounter(document.getElementById("count-sections"), state.sections.length, limits.sections, "sections");
    setCounter(document.getElementById("count-products"), state.productCount, limits.products, "products");
  }

  function updateButtons() {
    const overLimit = [...form.querySelectorAll(".counter.over-limit")].some((el) => !el.closest("[hidden]") && !el.dataset.warnOnly);
    const blocked = errors > 0 || overLimit;
    for (const button of needsValid) button.disabled = blocked;
    if (sendNote) {
      sendNote.textContent = blocked
        ? "Fix the problems above to send a test or send; a draft can be saved as it is."
        : "Ready: send a test first, then choose the recipients.";
    }
  }

  function replacePreview(html) {
    const preview = document.getElementById("preview");
    const sheet = preview.querySelector(".wa-sheet");
    const wasOpen = sheet && !sheet.hidden;
    const scroll = sheet ? sheet.querySelector(".wa-sheet-body")?.scrollTop : 0;
    preview.innerHTML = html;
    if (wasOpen) {
      const next = preview.querySelector(".wa-sheet");
      next.hidden = false;
      next.querySelector(".wa-sheet-body").scrollTop = scroll || 0;
    }
  }

  new TemplateValues({ form, templates, limits, onChange: changed });

  const thumbnail = new ThumbnailPicker({
    input: form.querySelector("#id_thumbnail"),
    current: document.getElementById("thumbnail-current"),
    searchInput: document.getElementById("thumbnail-search"),
    url: searchUrl,
    catalog,
    onChange: changed,
  });
  thumbnail.render();

  const editor = new SectionsEditor({
    container: document.getElementById("sections"),
    state,
    catalog,
    limits,
    searchUrl,
    pasteUrl: form.dataset.pasteUrl,
    csrfToken: form.querySelector("[name=csrfmiddlewaretoken]").value,
    onChange: changed,
  });
  editor.render();
  document.getElementById("add-section").addEventListener("click", () => {
    const index = state.addSection();
    editor.changed(`section-${index + 1}-title`, `Section ${index + 1} added.`);
  });

  // Counters of plain fields (header value, refs); refs over 255 are only a warning.
  for (const counter of form.querySelectorAll("[data-counter-for]")) {
    const input = document.getElementById(counter.dataset.counterFor);
    if (input.name.startsWith("ref")) counter.dataset.warnOnly = "true";
    const update = () => setCounter(counter, input.value.length, Number(counter.dataset.max));
    input.addEventListener("input", update);
    update();
  }

  // Any edit re-checks (the search boxes and the test number are not content).
  form.addEventListener("input", (event) => {
    if (event.target.type === "search" || event.target.name === "to") return;
    changed();
  });
  form.addEventListener("change", (event) => {
    if (event.target.tagName === "SELECT") changed();
  });
  form.addEventListener("submit", () => {
    dirty = false;
  });
  window.addEventListener("beforeunload", (event) => {
    if (dirty) event.preventDefault();
  });

  attachTestSend({
    form,
    button: form.querySelector("[data-test-send]"),
    outcome: document.getElementById("test-outcome"),
    numberInput: document.getElementById("test_to"),
    onDone: (savedUrl) => {
      dirty = false;
      if (savedUrl && new URL(savedUrl, location.href).pathname !== location.pathname) {
        form.setAttribute("action", savedUrl); // not form.action: the buttons named "action" shadow it
        history.replaceState(null, "", savedUrl);
      }
      updateButtons();
    },
  });

  updateCounts();
  updateButtons();
  checker.run();
  form.dataset.ready = "true"; // for the browser tests: the composer is wired up
}
