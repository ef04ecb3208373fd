// Search-as-you-type over the catalog. Results are buttons (reachable with Tab or the arrow
// keys); the number found is announced.
import { debounce, h, productThumb } from "./dom.js";

export function attachSearch({ input, url, catalog, isPicked, onPick, onPickAll }) {
  const status = h("p", { class: "visually-hidden", id: `${input.id}-status`, "aria-live": "polite" });
  const list = h("ul", { class: "list-group search-results", id: `${input.id}-results` });
  input.after(status, list);
  input.setAttribute("aria-controls", list.id);
  let controller = null;

  function clear() {
    list.replaceChildren();
  }

  async function search() {
    const query = input.value.trim();
    if (!query) {
      clear();
      status.textContent = "";
      return;
    }
    controller?.abort();
    controller = new AbortController();
    let data;
    try {
      const response = await fetch(`${url}?q=${encodeURIComponent(query)}`, {
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      data = await response.json();
    } catch (error) {
      if (error.name === "AbortError") return;
      status.textContent = "The search failed; try again.";
      list.replaceChildren(h("li", { class: "list-group-item text-danger", text: "The search failed; try again." }));
      return;
    }
    render(query, data.results);
  }

  function render(query, results) {
    for (const product of results) catalog.set(product.retailer_id, product);
    if (!results.length) {
      status.textContent = "No active product matches.";
      list.replaceChildren(
        h("li", { class: "list-group-item text-body-secondary", text: `No active product matches “${query}”.` }),
      );
      return;
    }
    const items = results.map((product) => resultItem(product));
    const addable = results.filter((product) => product.sendable && !isPicked(product.retailer_id));
    if (onPickAll && addable.length > 1) items.push(addAllItem(query, results, addable.length));
    list.replaceChildren(...items);
    status.textContent = `${results.length} product${results.length === 1 ? "" : "s"} found; press the down arrow to choose.`;
  }

  function resultItem(product) {
    const picked = isPicked(product.retailer_id);
    return h(
      "li",
      { class: "list-group-item p-0" },
      h(
        "button",
        {
          type: "button",
          class: "search-result",
          disabled: picked,
          "data-retailer-id": product.retailer_id,
          onclick: () => pick(product),
        },
        productThumb(product),
        h(
          "span",
          { class: "result-text" },
          h("span", { class: "result-name", text: product.name }),
          h("span", {
            class: "result-meta",
            text: [product.retailer_id, product.price_display, product.brand, product.item_group_id && `group ${product.item_group_id}`].filter(Boolean).join(" · "),
          }),
        ),
        product.sendable ? null : h("span", { class: "badge text-bg-warning", text: product.availability_label }),
        picked ? h("span", { class: "badge text-bg-secondary", text: "Added" }) : null,
      ),
    );
  }

  function addAllItem(query, results, count) {
    return h(
      "li",
      { class: "list-group-item p-0" },
      h("button", {
        type: "button",
        class: "search-result add-all fw-semibold",
        text: `Add all ${count} shown for “${query}”`,
        onclick: () => {
          clear();
          input.value = "";
          onPickAll(results);
        },
      }),
    );
  }

  function pick(product) {
    clear();
    input.value = "";
    onPick(product);
  }

  input.addEventListener("input", debounce(search, 200));
  input.addEventListener("keydown", (event) => {
    const first = list.querySelector("button:not([disabled])");
    if (event.key === "ArrowDown" && first) {
      event.preventDefault();
      first.focus();
    } else if (event.key === "Enter") {
      event.preventDefault(); // never submit the composer from a search box
      if (first) first.click();
    } else if (event.key === "Escape") {
      input.value = "";
      clear();
    }
  });
  list.addEventListener("keydown", (event) => {
    const buttons = [...list.querySelectorAll("button:not([disabled])")];
    const index = buttons.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && index < buttons.length - 1) {
      event.preventDefault();
      buttons[index + 1].focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      (index > 0 ? buttons[index - 1] : input).focus();
    } else if (event.key === "Escape") {
      clear();
      input.focus();
    }
  });
  return { clear };
}
