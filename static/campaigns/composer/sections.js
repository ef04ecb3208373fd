// The sections editor: titles with their counters, products with move and remove buttons, and
// a catalog search per section. Structural changes re-render it; typing a title does not.
// Removing a section that holds something can be undone until the next change; a product past
// the limit is refused at the click, with the reason beside the search it came from. SKUs come
// in bulk too: pasted (one a line or comma-separated, checked by the server against the
// catalog and the limit, each one left out named with why) or every result of a search (an
// item group or a brand) at once.
import { announce, h, productThumb, setCounter } from "./dom.js";
import { attachSearch } from "./search.js";

export class SectionsEditor {
  constructor({ container, state, catalog, limits, searchUrl, pasteUrl, csrfToken, onChange }) {
    Object.assign(this, { container, state, catalog, limits, searchUrl, pasteUrl, csrfToken, onChange });
    this.pasteReports = new Map(); // section index → the last paste's report, kept across renders
  }

  /** Draw every section; then focus the element with id `focusId`, if any. */
  render(focusId) {
    const cards = this.state.sections.map((section, index) => this.card(section, index));
    if (this.removed) cards.splice(Math.min(this.removed.index, cards.length), 0, this.undoNotice());
    this.container.replaceChildren(...cards);
    if (!focusId) return;
    const target = document.getElementById(focusId);
    // A move button that became disabled (first or last place) hands focus to its neighbour.
    const focusable = target && target.disabled ? target.parentElement.querySelector("button:not([disabled])") : target;
    focusable?.focus();
  }

  changed(focusId, message, { keepUndo = false, keepReport = false } = {}) {
    if (!keepUndo) this.removed = null;
    if (!keepReport) this.pasteReports.clear(); // a report belongs to its section's place
    this.render(focusId);
    this.onChange();
    if (message) announce(message);
  }

  card(section, index) {
    const number = index + 1;
    const count = this.state.sections.length;
    const id = `section-${number}`;
    const titleField = `sections[${number}].title`;
    const productsField = `sections[${number}].products`;

    const counter = h("span", { id: `${id}-title-count`, class: "counter" });
    const title = h("input", {
      type: "text",
      id: `${id}-title`,
      class: "form-control",
      value: section.title,
      autocomplete: "off",
      "data-field": titleField,
      "aria-describedby": `${id}-title-count problems-${titleField}`,
    });
    setCounter(counter, section.title.length, this.limits.title);
    title.addEventListener("input", () => {
      this.state.setTitle(index, title.value);
      setCounter(counter, title.value.length, this.limits.title);
    });
    title.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault();
    });

    const name = section.title || `section ${number}`;
    const tools = h(
      "div",
      { class: "btn-group btn-group-sm section-tools", role: "group", "aria-label": `Section ${number}` },
      h("button", {
        type: "button",
        class: "btn btn-outline-secondary",
        id: `${id}-up`,
        disabled: index === 0,
        "aria-label": `Move ${name} up`,
        text: "↑ Up",
        onclick: () => this.state.moveSection(index, -1) && this.changed(`section-${number - 1}-up`, `Moved ${name} up.`),
      }),
      h("button", {
        type: "button",
        class: "btn btn-outline-secondary",
        id: `${id}-down`,
        disabled: index === count - 1,
        "aria-label": `Move ${name} down`,
        text: "↓ Down",
        onclick: () => this.state.moveSection(index, 1) && this.changed(`section-${number + 1}-down`, `Moved ${name} down.`),
      }),
      h("button", {
        type: "button",
        class: "btn btn-outline-danger",
        "aria-label": `Remove ${name}`,
        text: "Remove",
        onclick: () => {
          const removed = this.state.removeSection(index);
          const held = removed.products.length;
          // Something worth keeping can be put back; an empty section just goes.
          this.removed = held || removed.title ? { index, section: removed, name, held } : null;
          const next = count > 1 ? `section-${Math.min(number, count - 1)}-title` : "add-section";
          this.changed(this.removed ? "undo-remove" : next, `Removed ${name}.`, { keepUndo: true });
        },
      }),
    );

    const products = h(
      "ol",
      { class: "list-group section-products mb-2", "aria-label": `Products in ${name}` },
      section.products.map((retailerId, position) => this.productItem(index, retailerId, position, section.products.length)),
    );
    const searchInput = h("input", {
      type: "search",
      id: `${id}-search`,
      class: "form-control",
      placeholder: "SKU or product name",
      autocomplete: "off",
    });
    const limitNote = h("div", { class: "field-problems text-danger small", id: `${id}-limit`, role: "alert" });
    const searchBox = h(
      "div",
      { class: "product-search" },
      h("label", { for: `${id}-search`, class: "form-label small mb-1", text: `Add products to section ${number}` }),
      searchInput,
      limitNote,
      this.pasteBox(index),
    );
    const personalised = h("input", {
      type: "checkbox",
      id: `${id}-personalised`,
      class: "form-check-input",
      checked: section.personalised,
      "aria-describedby": `${id}-personalised-help`,
      onchange: (event) => {
        this.state.setPersonalised(index, event.target.checked);
        const what = event.target.checked ? "filled with each recipient's own products" : "filled with the products below";
        this.changed(`${id}-personalised`, `Section ${number} is ${what}.`);
      },
    });
    const personalisedSwitch = h(
      "div",
      { class: "form-check form-switch mb-2" },
      personalised,
      h("label", { for: `${id}-personalised`, class: "form-check-label", text: "Filled per recipient" }),
      h("div", {
        id: `${id}-personalised-help`,
        class: "form-text mt-0",
        text: "Each recipient's own products: the skus column of their row (SKU1|SKU2|…), or skus in an API call.",
      }),
    );
    const body = section.personalised
      ? [h("p", { class: "personalised-note mb-0", text: "Each recipient sees their own products here; unknown or unavailable ones are left out when the list is checked." })]
      : [
          products,
          section.products.length ? null : h("p", { class: "form-text mt-0", text: "No products yet: search the catalog below." }),
          h("div", { class: "field-problems", id: `problems-${productsField}`, "data-problems-for": productsField }),
          searchBox,
        ];
    const card = h(
      "li",
      { class: "card section-card mb-3", "data-section": number },
      h(
        "fieldset",
        { class: "card-body" },
        h("legend", { class: "visually-hidden", text: `Section ${number}` }),
        h(
          "div",
          { class: "d-flex flex-wrap gap-2 align-items-end mb-1" },
          h(
            "div",
            { class: "flex-grow-1" },
            h("label", { for: `${id}-title`, class: "form-label mb-1 fw-semibold", text: `Section ${number} title` }),
            title,
          ),
          tools,
        ),
        h("div", { class: "form-text text-end mt-0" }, counter),
        h("div", { class: "field-problems", id: `problems-${titleField}`, "data-problems-for": titleField }),
        personalisedSwitch,
        ...body,
      ),
    );
    attachSearch({
      input: searchInput,
      url: this.searchUrl,
      catalog: this.catalog,
      isPicked: (retailerId) => this.state.sections[index].products.includes(retailerId),
      onPick: (product) => {
        if (this.state.productCount >= this.limits.products) {
          const reason = `Not added: an MPM holds at most ${this.limits.products} products, and this one has ${this.state.productCount}. Remove one first.`;
          limitNote.textContent = reason;
          announce(reason);
          return;
        }
        this.state.addProduct(index, product.retailer_id);
        this.changed(`${id}-search`, `${product.name} added to section ${number}.`);
      },
      onPickAll: (products) => this.addAll(index, products),
    });
    return card;
  }

  /** Every sendable search result not in the section yet, as many as still fit. */
  addAll(index, products) {
    const number = index + 1;
    const room = this.limits.products - this.state.productCount;
    const fresh = products.filter((p) => p.sendable && !this.state.sections[index].products.includes(p.retailer_id));
    const added = fresh.slice(0, Math.max(room, 0));
    for (const product of added) this.state.addProduct(index, product.retailer_id);
    const refused = fresh.slice(added.length).map((p) => ({ retailer_id: p.retailer_id, reason: `over the limit of ${this.limits.products} products in one message` }));
    for (const p of products.filter((p) => !p.sendable)) refused.push({ retailer_id: p.retailer_id, reason: p.availability_label.toLowerCase() });
    const summary = `${added.length} product${added.length === 1 ? "" : "s"} added${refused.length ? `; ${refused.length} not added.` : "."}`;
    this.pasteReports.set(index, { summary, refused });
    this.changed(`section-${number}-search`, `Section ${number}: ${summary}`, { keepReport: true });
  }

  /** A textarea for SKUs pasted in bulk, and the report of the last paste. */
  pasteBox(index) {
    const number = index + 1;
    const id = `section-${number}-paste`;
    const area = h("textarea", {
      id,
      class: "form-control form-control-sm font-monospace",
      rows: 4,
      placeholder: "SKU-1\nSKU-2, SKU-3",
      "aria-describedby": `${id}-help`,
    });
    const button = h("button", { type: "button", class: "btn btn-sm btn-outline-primary mt-1", id: `${id}-add`, text: "Add these SKUs" });
    button.addEventListener("click", () => this.paste(index, area, button));
    const report = this.pasteReports.get(index);
    return h(
      "details",
      { class: "paste-skus mt-2", open: Boolean(report) },
      h("summary", { class: "small", text: "Paste SKUs in bulk" }),
      h("label", { for: id, class: "visually-hidden", text: `SKUs to add to section ${number}` }),
      area,
      h("div", { id: `${id}-help`, class: "form-text mt-0", text: `One a line or separated by commas; added in this order, at most ${this.limits.products} products in the message.` }),
      button,
      report ? this.pasteReport(number, report) : null,
    );
  }

  pasteReport(number, { summary, refused }) {
    return h(
      "div",
      { class: "paste-report small mt-2", id: `section-${number}-paste-report`, role: "status" },
      h("p", { class: "mb-1 fw-semibold", text: summary }),
      refused.length
        ? h(
            "ul",
            { class: "mb-0 text-danger", "aria-label": "Not added" },
            refused.map((item) => h("li", {}, h("code", { text: item.retailer_id }), `: ${item.reason}`)),
          )
        : null,
    );
  }

  async paste(index, area, button) {
    const number = index + 1;
    if (!area.value.trim()) return;
    const body = new FormData();
    body.append("skus", area.value);
    body.append("taken", this.state.sections[index].products.join(","));
    body.append("room", String(Math.max(this.limits.products - this.state.productCount, 0)));
    button.disabled = true;
    let data;
    try {
      const response = await fetch(this.pasteUrl, {
        method: "POST",
        body,
        headers: { Accept: "application/json", "X-CSRFToken": this.csrfToken },
      });
      data = await response.json();
      if (!response.ok) throw new Error(data.problems?.[0]?.message || `HTTP ${response.status}`);
    } catch (error) {
      button.disabled = false;
      this.pasteReports.set(index, { summary: `Nothing added: ${error.message}`, refused: [] });
      this.changed(`section-${number}-paste`, `Nothing added: ${error.message}`, { keepReport: true });
      return;
    }
    for (const product of data.added) {
      this.catalog.set(product.retailer_id, product);
      this.state.addProduct(index, product.retailer_id);
    }
    this.pasteReports.set(index, { summary: data.summary, refused: data.refused });
    this.changed(`section-${number}-paste`, `Section ${number}: ${data.summary}`, { keepReport: true });
  }

  undoNotice() {
    const { index, section, name, held } = this.removed;
    return h(
      "li",
      { class: "alert alert-warning d-flex align-items-center gap-2 mb-3 undo-notice", role: "status" },
      h("span", { class: "flex-grow-1", text: `Removed ${name}${held ? ` and its ${held} product${held === 1 ? "" : "s"}` : ""}.` }),
      h("button", {
        type: "button",
        class: "btn btn-sm btn-outline-dark",
        id: "undo-remove",
        text: "Undo",
        onclick: () => {
          this.state.restoreSection(index, section);
          this.changed(`section-${index + 1}-title`, `Put ${name} back.`);
        },
      }),
    );
  }

  productItem(index, retailerId, position, count) {
    const product = this.catalog.get(retailerId);
    const label = product ? product.name : retailerId;
    const key = `section-${index + 1}-item-${position + 1}`;
    return h(
      "li",
      { class: "list-group-item d-flex align-items-center gap-2 product-item" },
      productThumb(product),
      h(
        "span",
        { class: "flex-grow-1 product-text" },
        h("span", { class: "d-block", text: label }),
        h("span", {
          class: "d-block small text-body-secondary",
          text: product ? `${retailerId} · ${product.price_display}` : `${retailerId} · not in the catalog`,
        }),
      ),
      product && !product.sendable ? h("span", { class: "badge text-bg-warning", text: product.availability_label }) : null,
      h(
        "span",
        { class: "btn-group btn-group-sm", role: "group", "aria-label": label },
        h("button", {
          type: "button",
          class: "btn btn-outline-secondary",
          id: `${key}-up`,
          disabled: position === 0,
          "aria-label": `Move ${label} up`,
          text: "↑",
          onclick: () =>
            this.state.moveProduct(index, position, -1) &&
            this.changed(`section-${index + 1}-item-${position}-up`, `Moved ${label} up.`),
        }),
        h("button", {
          type: "button",
          class: "btn btn-outline-secondary",
          id: `${key}-down`,
          disabled: position === count - 1,
          "aria-label": `Move ${label} down`,
          text: "↓",
          onclick: () =>
            this.state.moveProduct(index, position, 1) &&
            this.changed(`section-${index + 1}-item-${position + 2}-down`, `Moved ${label} down.`),
        }),
        h("button", {
          type: "button",
          class: "btn btn-outline-danger",
          "aria-label": `Remove ${label} from section ${index + 1}`,
          text: "✕",
          onclick: () => {
            this.state.removeProduct(index, position);
            this.changed(`section-${index + 1}-search`, `Removed ${label}.`);
          },
        }),
      ),
    );
  }
}
