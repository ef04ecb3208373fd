// The campaign dashboard, live: draws the sends/reads chart (Chart.js, vendored) and polls the
// dashboard's JSON every few seconds to update the funnel, the chart and the tables. Polling
// stops while the tab is hidden and slows down while nothing changes.
(function () {
  const root = document.getElementById("dashboard");
  if (!root) return;

  const FAST = 4000; // ms between polls while numbers move
  const SLOW = 60000; // at most this long while nothing changes
  const percent = (value) => (value === null || value === undefined ? "—" : `${value.toFixed(1)}%`);
  const width = (value) => `${Math.max(0, Math.min(100, value || 0)).toFixed(1)}%`;
  const all = (selector) => root.querySelectorAll(selector);
  const setText = (selector, text) => all(selector).forEach((el) => { el.textContent = text; });

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children) node.append(child);
    return node;
  }

  // --- the chart -------------------------------------------------------------------------------
  const SERIES = [
    // Distinct in colour, line style and point shape, so they read without colour too.
    { key: "sends", label: "Sent", color: "#0b5ed7", dash: [], point: "circle" },
    { key: "delivered", label: "Delivered", color: "#146c43", dash: [6, 4], point: "rect" },
    { key: "reads", label: "Read", color: "#6f42c1", dash: [2, 3], point: "triangle" },
  ];
  const canvas = document.getElementById("timeline-chart");
  const initial = JSON.parse(document.getElementById("timeline-data").textContent);
  let chart = null;

  function summary(timeline) {
    const totals = SERIES.map((s) => `${timeline.rows.reduce((n, r) => n + r[s.key], 0)} ${s.label.toLowerCase()}`);
    if (!timeline.rows.length) return "Chart of sends, deliveries and reads: nothing sent yet.";
    const first = timeline.rows[0].label;
    const last = timeline.rows[timeline.rows.length - 1].label;
    return `Chart of messages per ${timeline.bucket} from ${first} to ${last}: ${totals.join(", ")}. The numbers are in the table below the chart.`;
  }

  function drawChart(timeline) {
    canvas.setAttribute("aria-label", summary(timeline));
    if (typeof window.Chart === "undefined") return;
    const labels = timeline.rows.map((r) => r.label);
    if (chart) {
      chart.data.labels = labels;
      SERIES.forEach((s, i) => { chart.data.datasets[i].data = timeline.rows.map((r) => r[s.key]); });
      chart.update("none");
      return;
    }
    chart = new window.Chart(canvas, {
      type: "line",
      data: {
        labels,
        datasets: SERIES.map((s) => ({
          label: s.label,
          data: timeline.rows.map((r) => r[s.key]),
          borderColor: s.color,
          backgroundColor: s.color,
          borderDash: s.dash,
          pointStyle: s.point,
          pointRadius: timeline.rows.length > 60 ? 0 : 3,
          borderWidth: 2,
          tension: 0.2,
        })),
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { beginAtZero: true, ticks: { precision: 0, color: "#495057" }, title: { display: true, text: "Messages", color: "#495057" } },
          x: { ticks: { maxTicksLimit: 10, maxRotation: 0, color: "#495057" } },
        },
        plugins: { legend: { labels: { usePointStyle: true, color: "#212529" } } },
      },
    });
  }

  function drawTimelineTable(timeline) {
    const body = root.querySelector('[data-dash="timeline-rows"]');
    setText('[data-dash="bucket"]', timeline.bucket);
    if (!timeline.rows.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "text-start text-body-secondary" }, "Nothing sent yet.")));
      return;
    }
    body.replaceChildren(...timeline.rows.map((r) => el("tr", {},
      el("th", { scope: "row", class: "text-start fw-normal" }, r.label),
      el("td", {}, String(r.sends)), el("td", {}, String(r.delivered)), el("td", {}, String(r.reads)))));
  }

  // --- funnel, figures and tables --------------------------------------------------------------
  function drawFunnel(data) {
    const f = data.funnel;
    for (const step of f.steps) {
      const row = root.querySelector(`tr[data-step="${step.step}"]`);
      if (!row) continue;
      row.querySelector('[data-field="count"]').textContent = step.count;
      row.querySelector('[data-field="of_queued"]').textContent = percent(step.of_queued);
      row.querySelector(".funnel-bar").style.width = width(step.of_queued);
      if (step.step !== "queued") row.querySelector('[data-field="of_previous"]').textContent = percent(step.of_previous);
    }
    for (const outcome of data.outcomes) {
      const item = root.querySelector(`[data-outcome="${outcome.name}"]`);
      if (!item) continue;
      item.querySelector('[data-field="count"]').textContent = outcome.count;
      item.classList.toggle("is-zero", !outcome.count);
    }
    for (const key of ["delivery_rate", "read_rate", "failure_rate"]) setText(`[data-dash="${key}"]`, percent(f[key]));
    for (const key of ["delivered", "accepted", "read", "queued"]) setText(`[data-dash="${key}"]`, String(f[key]));
    setText('[data-dash="failed_or_not_sent"]', String(f.failed + f.not_sent));
    setText('[data-dash="orders_count"]', String(data.orders.count));
    const units = data.orders.units;
    setText('[data-dash="units_shown"]', units ? `${data.orders.units_shown} of ${units} unit${units === 1 ? "" : "s"} ordered were products the customer's own message showed.` : "");
    setText('[data-dash="revenue"]', data.orders.totals.map((t) => t.revenue_text).join(" · ") || "No revenue yet");
  }

  function table(caption, headings, rows, foot) {
    const head = el("tr", {}, ...headings.map(([text, cls]) => el("th", { scope: "col", class: cls || "" }, text)));
    const t = el("table", { class: "table table-sm align-top mb-0" },
      el("caption", { class: "visually-hidden" }, caption), el("thead", {}, head), el("tbody", {}, ...rows));
    if (foot) t.append(el("tfoot", {}, ...foot));
    return el("div", { class: "table-responsive" }, t);
  }

  function drawFailures(data) {
    const box = root.querySelector('[data-dash="failures"]');
    if (!data.failures.length) {
      box.replaceChildren(el("p", { class: "text-body-secondary mb-0" }, "No failures so far."));
    } else {
      const rows = data.failures.map((f) => {
        const query = new URLSearchParams({ state: f.state });
        if (f.code && f.code !== "not-sent") query.set("code", f.code);
        const link = el("a", { href: `${root.dataset.resultsUrl}?${query}#results`, title: "Show these recipients" }, String(f.count));
        return el("tr", {},
          el("td", { class: "text-nowrap" }, el("span", { class: "mono" }, f.code || "—"), el("br"),
            el("span", { class: "small text-body-secondary" }, f.source)),
          el("td", { class: "text-end num" }, link), el("td", {}, f.meaning), el("td", {}, f.action));
      });
      box.replaceChildren(table("Failed and not-sent messages by code",
        [["Code"], ["Messages", "text-end"], ["What it means"], ["What to do"]], rows));
    }
    const skips = root.querySelector('[data-dash="skip_reasons"]');
    if (!data.skip_reasons.length) { skips.replaceChildren(); return; }
    skips.replaceChildren(el("h4", { class: "h6 mt-3" }, "Why some were skipped"),
      el("ul", { class: "mb-0" }, ...data.skip_reasons.map((r) =>
        el("li", {}, el("span", { class: "num fw-semibold" }, String(r.count)), ` · ${r.reason}`))));
  }

  function drawOrders(data) {
    const box = root.querySelector('[data-dash="orders"]');
    const o = data.orders;
    if (!o.products.length) {
      box.replaceChildren(el("p", { class: "text-body-secondary mb-0" }, "No orders yet."));
      return;
    }
    const rows = o.products.map((p) => el("tr", {},
      el("td", {}, `${p.name || "Not in the catalog"} `, el("span", { class: "mono small text-body-secondary" }, p.retailer_id)),
      el("td", { class: "text-end num" }, String(p.orders)), el("td", { class: "text-end num" }, String(p.units)),
      el("td", { class: "text-end num" }, p.revenue_text)));
    const foot = o.totals.map((t) => el("tr", { class: "fw-semibold" },
      el("th", { scope: "row" }, o.totals.length > 1 ? `Total (${t.currency})` : "Total"),
      el("td", { class: "text-end num" }, String(t.orders)), el("td"), el("td", { class: "text-end num" }, t.revenue_text)));
    box.replaceChildren(table("Orders and revenue per product",
      [["Product"], ["Orders", "text-end"], ["Units", "text-end"], ["Revenue", "text-end"]], rows, foot));
  }

  function showTime(iso) {
    const time = root.querySelector('[data-dash="updated_at"]');
    time.setAttribute("datetime", iso);
    time.textContent = new Date(iso).toLocaleTimeString();
  }

  // --- polling ---------------------------------------------------------------------------------
  let last = null;
  let etag = null;
  let delay = FAST;
  let timer = null;

  function changed(data, key) {
    return !last || JSON.stringify(last[key]) !== JSON.stringify(data[key]);
  }

  async function poll() {
    timer = null;
    try {
      // Conditional: an unchanged campaign answers 304 at once, from its version number alone.
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const response = await fetch(root.dataset.url, { headers, credentials: "same-origin" });
      if (response.status === 304) {
        delay = last && last.state === "sending" ? FAST : Math.min(delay * 2, SLOW);
      } else if (response.ok) {
        etag = response.headers.get("ETag");
        const data = await response.json();
        const moved = ["funnel", "outcomes", "failures", "skip_reasons", "timeline", "orders"].some((k) => changed(data, k));
        if (changed(data, "funnel") || changed(data, "outcomes") || changed(data, "orders")) drawFunnel(data);
        if (changed(data, "timeline")) { drawChart(data.timeline); drawTimelineTable(data.timeline); }
        if (changed(data, "failures") || changed(data, "skip_reasons")) drawFailures(data);
        if (changed(data, "orders")) drawOrders(data);
        showTime(data.updated_at);
        // While a campaign sends or reports arrive, poll fast; back off while nothing moves.
        delay = moved || data.state === "sending" ? FAST : Math.min(delay * 2, SLOW);
        last = data;
      }
    } catch (error) {
      // A missed poll is retried on the next tick.
    }
    schedule();
  }

  function schedule() {
    if (timer === null && !document.hidden) timer = setTimeout(poll, delay);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else {
      delay = FAST;
      clearTimeout(timer);
      timer = null;
      poll(); // catch up at once when the marketer comes back
    }
  });

  // Widths come as data attributes: the Content-Security-Policy allows no inline style.
  all(".funnel-bar[data-width]").forEach((bar) => { bar.style.width = bar.dataset.width; });
  drawChart(initial);
  showTime(root.querySelector('[data-dash="updated_at"]').getAttribute("datetime"));
  schedule();
})();
