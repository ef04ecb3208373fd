// "Send a test": posts the composer (the server saves the draft, then sends it to one number)
// and shows the outcome in plain words, announced to screen readers.
import { h } from "./dom.js";

export function attachTestSend({ form, button, outcome, numberInput, onDone }) {
  if (!button) return;
  const problems = document.getElementById("problems-to");

  button.addEventListener("click", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    problems.replaceChildren();
    numberInput.classList.remove("is-invalid");
    numberInput.removeAttribute("aria-invalid");
    outcome.replaceChildren(h("p", { class: "text-body-secondary mb-0", text: `Sending a test to ${numberInput.value.trim() || "…"}` }));
    const body = new FormData(form);
    body.set("action", "test");
    let savedUrl = "";
    try {
      const response = await fetch(form.getAttribute("action"), { method: "POST", body, headers: { Accept: "application/json" } });
      const data = await response.json();
      outcome.innerHTML = data.html; // rendered and escaped by the server
      savedUrl = data.saved_url || "";
      for (const problem of data.problems || []) {
        if (problem.field !== "to") continue;
        problems.append(h("p", { class: "problem problem-error", text: problem.message }));
        numberInput.classList.add("is-invalid");
        numberInput.setAttribute("aria-invalid", "true");
      }
    } catch (error) {
      outcome.replaceChildren(
        h("div", { class: "alert alert-danger mb-0", text: "The test could not be sent: the server did not answer. Try again." }),
      );
    } finally {
      button.disabled = false;
      onDone(savedUrl);
    }
  });

  numberInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      button.click();
    }
  });
}
