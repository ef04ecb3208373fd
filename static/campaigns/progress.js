// Live progress for a campaign that is sending: refresh the counts every two seconds, and the
// whole page once the campaign stops sending (so the right buttons show).
(function () {
  const panel = document.getElementById("mpm-progress");
  if (!panel || panel.dataset.state !== "sending") return;
  const field = (name) => panel.querySelector(`[data-field="${name}"]`);
  let etag = null;
  async function refresh() {
    try {
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const response = await fetch(panel.dataset.url, { headers });
      if (response.status === 304) {
        setTimeout(refresh, 2000); // unchanged: nothing to redraw
        return;
      }
      if (!response.ok) return;
      etag = response.headers.get("ETag");
      const progress = await response.json();
      for (const [state, count] of Object.entries(progress.counts)) {
        const cell = panel.querySelector(`[data-count="${state}"]`);
        if (cell) cell.textContent = count;
      }
      field("percent").textContent = progress.percent;
      const later = field("waiting_for_their_time");
      if (later) later.textContent = progress.waiting_for_their_time;
      panel.querySelector("progress").value = progress.percent;
      if (progress.state !== "sending") {
        window.location.reload();
        return;
      }
    } catch (error) {
      // A missed refresh is retried on the next tick.
    }
    setTimeout(refresh, 2000);
  }
  setTimeout(refresh, 2000);
})();
