// gleap-actions console: reload the live part of a page every few seconds, and load an event's details when
// it is opened. Pages work without this script (details then open as their own page, through the link).
// Open <details> stay open across reloads; nothing reloads while the tab is hidden or a control inside the
// live part has the keyboard focus.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-refresh");
  var region = document.getElementById("live");
  if (!region) return;

  function get(path) {
    return fetch(path, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; });
  }

  region.addEventListener("toggle", function (e) {
    var d = e.target;
    if (!d.open || !d.dataset || !d.dataset.detail) return;
    get(d.dataset.detail).then(function (html) {
      var slot = d.querySelector(".detail");
      if (html !== null && slot) slot.innerHTML = html;
    }).catch(function () {});
  }, true); // toggle does not bubble: listen while capturing

  function refresh() {
    if (document.hidden) return;
    var active = document.activeElement;
    if (active && region.contains(active) && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName)) return;
    get(url).then(function (html) {
      if (html === null) return;
      var open = {};
      region.querySelectorAll("details[open][data-key]").forEach(function (d) { open[d.dataset.key] = true; });
      var focused = document.activeElement && document.activeElement.closest &&
        document.activeElement.closest("details[data-key]");
      var focusKey = focused && region.contains(focused) ? focused.dataset.key : null;
      region.innerHTML = html;
      region.querySelectorAll("details[data-key]").forEach(function (d) {
        if (open[d.dataset.key]) d.open = true;
        if (d.dataset.key === focusKey) d.querySelector("summary").focus(); // keep the keyboard's place
      });
    }).catch(function () {});
  }
  if (url) setInterval(refresh, 2000);
})();
