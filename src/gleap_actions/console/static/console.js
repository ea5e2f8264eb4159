// gleap-actions console: reload the live part of a page every few seconds (pages work without it).
// Open <details> stay open across reloads; nothing reloads while the tab is hidden.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-refresh");
  var region = document.getElementById("live");
  if (!url || !region) return;
  function refresh() {
    if (document.hidden) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var open = {};
        region.querySelectorAll("details[open][data-key]").forEach(function (d) { open[d.dataset.key] = true; });
        var active = document.activeElement && region.contains(document.activeElement);
        if (active) return; // do not pull the focused control out from under the keyboard
        region.innerHTML = html;
        region.querySelectorAll("details[data-key]").forEach(function (d) { if (open[d.dataset.key]) d.open = true; });
      })
      .catch(function () {});
  }
  setInterval(refresh, 2000);
})();
