// The WhatsApp-style preview: "View items" opens the sheet of sections and products (Escape or
// the close button shuts it), broken product images become grey squares, and Copy buttons put
// a <pre>'s text on the clipboard (with a fallback where the Clipboard API is not available).
(function () {
  "use strict";

  function liveRegion() {
    let region = document.getElementById("preview-announcer");
    if (!region) {
      region = document.createElement("div");
      region.id = "preview-announcer";
      region.className = "visually-hidden";
      region.setAttribute("aria-live", "polite");
      document.body.append(region);
    }
    return region;
  }

  function openSheet(button) {
    const sheet = button.closest(".wa-phone").querySelector(".wa-sheet");
    sheet.hidden = false;
    button.setAttribute("aria-expanded", "true");
    sheet.querySelector("[data-wa-close]").focus();
  }

  function closeSheet(phone) {
    phone.querySelector(".wa-sheet").hidden = true;
    const opener = phone.querySelector("[data-wa-open]");
    if (opener) {
      opener.setAttribute("aria-expanded", "false");
      opener.focus();
    }
  }

  function fallbackCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    area.remove();
    return copied;
  }

  async function copy(button) {
    const target = document.querySelector(button.dataset.copy);
    if (!target) return;
    const text = target.textContent;
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch (error) {
        copied = false;
      }
    }
    if (!copied) copied = fallbackCopy(text);
    if (!copied) {
      window.getSelection().selectAllChildren(target); // the user can press Ctrl+C
    }
    button.dataset.label = button.dataset.label || button.textContent;
    button.textContent = copied ? "Copied" : "Selected: press Ctrl+C";
    liveRegion().textContent = copied ? "Copied the JSON to the clipboard." : "The JSON is selected: press Control C to copy it.";
    clearTimeout(button._reset);
    button._reset = setTimeout(() => {
      button.textContent = button.dataset.label;
    }, 2500);
  }

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-wa-open]");
    if (opener) return openSheet(opener);
    const closer = event.target.closest("[data-wa-close]");
    if (closer) return closeSheet(closer.closest(".wa-phone"));
    const copier = event.target.closest("[data-copy]");
    if (copier) copy(copier);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const sheet = event.target.closest && event.target.closest(".wa-sheet");
    if (sheet && !sheet.hidden) closeSheet(sheet.closest(".wa-phone"));
  });

  document.addEventListener(
    "error",
    (event) => {
      const img = event.target;
      if (img instanceof HTMLImageElement && (img.classList.contains("wa-img") || img.classList.contains("thumb"))) {
        const square = document.createElement("span");
        square.className = `${img.className} wa-img-missing thumb-missing`;
        square.setAttribute("aria-hidden", "true");
        img.replaceWith(square);
      }
    },
    true,
  );
})();
