// The template's values: a header value field when its header has {{1}}, one field per body
// variable, and the length of the body with its values filled in.
import { h, setCounter } from "./dom.js";

const VARIABLE = /\{\{\s*(\d+)\s*\}\}/g;

export class TemplateValues {
  constructor({ form, templates, limits, onChange }) {
    Object.assign(this, { form, templates, limits, onChange });
    this.select = form.querySelector("#id_template");
    this.headerGroup = form.querySelector("#header-group");
    this.headerInput = form.querySelector("#id_header_value");
    this.bodyGroup = form.querySelector("#body-group");
    this.bodyFields = form.querySelector("#body-fields");
    this.bodyCount = form.querySelector("#body-count");
    this.select.addEventListener("change", () => this.apply(true));
    this.bodyFields.addEventListener("input", () => this.updateBodyCount());
    // A template chosen before this script ran still gets its fields.
    const rendered = this.bodyFields.querySelectorAll("input").length;
    this.apply(Boolean(this.template) && rendered < this.template.body_variables);
  }

  get template() {
    return this.templates[this.select.value] || null;
  }

  apply(rebuild) {
    const template = this.template;
    const hasHeader = Boolean(template && template.header_variables);
    this.headerGroup.hidden = !hasHeader;
    this.headerInput.disabled = !hasHeader; // a disabled field is not posted
    this.bodyGroup.hidden = !template;
    this.form.querySelector('[data-template-text="header"]').textContent = template ? template.header_text : "";
    this.form.querySelector('[data-template-text="body"]').textContent = template ? template.body_text : "";
    if (rebuild) this.renderBodyFields(template ? template.body_variables : 0);
    this.updateBodyCount();
  }

  renderBodyFields(count) {
    const values = {};
    for (const input of this.bodyFields.querySelectorAll("input")) values[input.name] = input.value;
    const fields = [];
    for (let number = 1; number <= count; number += 1) {
      const name = `body_${number}`;
      fields.push(
        h(
          "div",
          { class: "mb-2 body-field" },
          h("label", { for: `id_${name}`, class: "form-label", text: `Body value {{${number}}}` }),
          h("input", {
            type: "text",
            name,
            id: `id_${name}`,
            class: "form-control",
            value: values[name] || "",
            autocomplete: "off",
            "aria-describedby": `problems-${name}`,
          }),
          h("div", { class: "field-problems", id: `problems-${name}`, "data-problems-for": name }),
        ),
      );
    }
    if (!count) fields.push(h("p", { class: "form-text mt-0", text: "This template's body has no variables to fill." }));
    this.bodyFields.replaceChildren(...fields);
  }

  updateBodyCount() {
    const template = this.template;
    if (!template) return;
    const values = [...this.bodyFields.querySelectorAll("input")].map((input) => input.value);
    const filled = template.body_text.replace(VARIABLE, (match, n) => values[Number(n) - 1] || match);
    setCounter(this.bodyCount, filled.length, this.limits.body);
  }
}
