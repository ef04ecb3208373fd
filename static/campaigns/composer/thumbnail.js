// The thumbnail picker: the chosen product (its image heads the message) and a catalog search.
import { announce, h, productThumb } from "./dom.js";
import { attachSearch } from "./search.js";

export class ThumbnailPicker {
  constructor({ input, current, searchInput, url, catalog, onChange }) {
    Object.assign(this, { input, current, catalog, onChange });
    attachSearch({
      input: searchInput,
      url,
      catalog,
      isPicked: (retailerId) => retailerId === this.input.value,
      onPick: (product) => {
        this.input.value = product.retailer_id;
        this.render();
        this.onChange();
        announce(`${product.name} is the thumbnail.`);
        searchInput.focus();
      },
    });
  }

  render() {
    const retailerId = this.input.value;
    if (!retailerId) {
      this.current.replaceChildren(h("p", { class: "text-body-secondary mb-0", text: "No thumbnail yet: search the catalog below." }));
      return;
    }
    const product = this.catalog.get(retailerId);
    this.current.replaceChildren(
      h(
        "div",
        { class: "d-flex align-items-center gap-2 chosen-thumbnail" },
        productThumb(product),
        h(
          "span",
          { class: "flex-grow-1" },
          h("span", { class: "d-block fw-medium", text: product ? product.name : retailerId }),
          h("span", {
            class: "d-block small text-body-secondary",
            text: product ? `${retailerId} · ${product.price_display}` : `${retailerId} · not in the catalog`,
          }),
        ),
        h("button", {
          type: "button",
          class: "btn btn-sm btn-outline-danger",
          text: "Remove",
          "aria-label": "Remove the thumbnail product",
          onclick: () => {
            this.input.value = "";
            this.render();
            this.onChange();
            announce("The thumbnail was removed.");
          },
        }),
      ),
    );
  }
}
