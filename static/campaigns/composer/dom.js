// Small DOM helpers shared by the composer's modules.

/** An element with attributes, properties and children: h("button", {type: "button", text: "Go"}). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "value") el.value = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** `fn` called once typing pauses for `ms`; `.now()` calls it at once. */
export function debounce(fn, ms) {
  let timer;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.now = (...args) => {
    clearTimeout(timer);
    return fn(...args);
  };
  return debounced;
}

/** The data of a `json_script` element. */
export function readJson(id, fallback) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : fallback;
}

/** "17/24", red and bold once past the limit. */
export function setCounter(el, count, max, noun = "") {
  if (!el) return;
  el.textContent = `${count}/${max}${noun ? ` ${noun}` : ""}`;
  el.classList.toggle("over-limit", count > max);
}

/** A product's small picture, or a grey square when it has none (or it fails to load). */
export function productThumb(product) {
  if (product && product.image_url) {
    return h("img", { src: product.image_url, alt: "", class: "thumb", loading: "lazy" });
  }
  return h("span", { class: "thumb thumb-missing", "aria-hidden": "true" });
}

/** Say something to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("composer-announcer");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}
