// The segment editor: one row per condition, kept in the rules field (the form posts that), and
// the live count asked for after each change. Without this script the rules field is edited as
// JSON and checked on save.
(function () {
  "use strict";
  const rulesField = document.getElementById("id_rules");
  const box = document.getElementById("segment-conditions");
  if (!rulesField || !box) return;
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const ops = read("segment-ops");
  const lists = read("segment-lists");
  const campaigns = read("segment-campaigns");
  const LABELS = {
    equals: "attribute equals", contains: "attribute contains", is_set: "attribute is set",
    consent: "consent is", in_list: "is in list", received_campaign: "received campaign",
    read_campaign: "read campaign", ordered_since_campaign: "ordered since campaign was sent",
    ordered_in_days: "ordered in the last N days", not_messaged_in_days: "not messaged in the last N days",
  };
  const FIELDS = {
    equals: ["attribute", "value"], contains: ["attribute", "value"], is_set: ["attribute"],
    consent: ["consent"], in_list: ["list"], received_campaign: ["campaign"],
    read_campaign: ["campaign"], ordered_since_campaign: ["campaign"],
    ordered_in_days: ["days"], not_messaged_in_days: ["days"],
  };
  let rules;
  try { rules = JSON.parse(rulesField.value || "[]"); } catch (e) { return; }
  if (!Array.isArray(rules)) return;
  rulesField.closest(".mb-3").hidden = true;
  document.getElementById("segment-add").hidden = false;

  function element(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (k === "text") node.textContent = v; else node.setAttribute(k, v); });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }
  function select(options, value, label) {
    const node = element("select", { class: "form-select form-select-sm", "aria-label": label });
    options.forEach(([v, text]) => {
      const option = element("option", { value: v, text: text });
      if (String(v) === String(value)) option.selected = true;
      node.appendChild(option);
    });
    return node;
  }
  function input(type, value, label) {
    const node = element("input", { type: type, class: "form-control form-control-sm", "aria-label": label });
    node.value = value === undefined ? "" : value;
    return node;
  }
  function fieldFor(name, condition) {
    if (name === "attribute") return input("text", condition.attribute, "Attribute");
    if (name === "value") return input("text", condition.value, "Value");
    if (name === "days") return input("number", condition.days, "Days");
    if (name === "consent") return select([["opted_in", "opted in"], ["opted_out", "opted out"], ["unknown", "unknown"]], condition.value, "Consent");
    if (name === "list") return select(lists.map((l) => [l.pk, l.name]), condition.list, "List");
    return select(campaigns.map((c) => [c.pk, c.name]), condition.campaign, "Campaign");
  }
  function valueOf(name, node) {
    if (name === "days" || name === "list" || name === "campaign") return node.value === "" ? null : Number(node.value);
    return node.value;
  }
  function render() {
    box.replaceChildren();
    rules.forEach((condition, index) => {
      const fields = FIELDS[condition.op] || [];
      const row = element("div", { class: "d-flex flex-wrap gap-2 align-items-center mb-2", "data-condition": index });
      row.appendChild(element("span", { class: "small text-body-secondary", text: String(index + 1) + "." }));
      const negate = element("input", { type: "checkbox", class: "form-check-input", "aria-label": "Not" });
      negate.checked = Boolean(condition.negate);
      row.appendChild(element("label", { class: "small" }, [negate, document.createTextNode(" not")]));
      const op = select(ops.map((o) => [o, LABELS[o] || o]), condition.op, "Condition");
      row.appendChild(op);
      const inputs = fields.map((name) => [name, fieldFor(name, condition)]);
      inputs.forEach(([, node]) => row.appendChild(node));
      const remove = element("button", { type: "button", class: "btn btn-link btn-sm text-danger", text: "Remove" });
      row.appendChild(remove);
      const update = () => {
        const next = { op: op.value };
        if (negate.checked) next.negate = true;
        if (op.value !== condition.op) { rules[index] = next; render(); changed(); return; }
        inputs.forEach(([name, node]) => { next[name === "consent" ? "value" : name] = valueOf(name, node); });
        rules[index] = next;
        changed();
      };
      row.addEventListener("change", update);
      row.addEventListener("input", (event) => { if (event.target.tagName === "INPUT" && event.target.type !== "checkbox") update(); });
      remove.addEventListener("click", () => { rules.splice(index, 1); render(); changed(); });
      box.appendChild(row);
    });
  }
  const countNode = document.getElementById("segment-count");
  const problemsNode = document.getElementById("segment-problems");
  const firstNode = document.getElementById("segment-first");
  let timer = null;
  let asked = 0;
  function changed() {
    rulesField.value = JSON.stringify(rules);
    clearTimeout(timer);
    timer = setTimeout(count, 300);
  }
  function count() {
    const mine = ++asked;
    const url = countNode.dataset.url + "?rules=" + encodeURIComponent(rulesField.value);
    countNode.textContent = "Counting…";
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => response.json())
      .then((answer) => {
        if (mine !== asked) return; // a later change asked again
        problemsNode.replaceChildren(...answer.problems.map((p) => element("li", { text: p })));
        firstNode.replaceChildren(...answer.contacts.map((c) => element("li", { text: c.phone + (c.name ? " " + c.name : "") })));
        countNode.textContent = answer.count === null ? "Fix the conditions to count." :
          answer.count + " contact(s), " + answer.opted_in + " of them opted in.";
      })
      .catch(() => { if (mine === asked) countNode.textContent = "Could not count just now."; });
  }
  document.getElementById("segment-add").addEventListener("click", () => {
    rules.push({ op: "equals", attribute: "", value: "" });
    render();
    changed();
  });
  render();
  count();
})();
