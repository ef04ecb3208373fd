// The schedule forms' time zone starts as the browser's own (when the server did not set one
// from an earlier try): the marketer enters the time as their clock shows it.
document.querySelectorAll("select[data-browser-zone]").forEach((select) => {
  if (select.dataset.chosen) return;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if ([...select.options].some((option) => option.value === zone)) select.value = zone;
});
