// shoal dashboard: refresh the live part of the page every second, without a reload.
// The server renders everything; this only fetches the page again with
// "X-Shoal-Partial: 1" and swaps the answer into #live when it changed.
(function () {
  "use strict";
  var INTERVAL = 1000;
  var live = document.getElementById("live");
  var badge = document.getElementById("live-state");
  if (!live) { return; }
  var last = live.innerHTML;
  var busy = false;

  function mark(text, css) {
    if (badge) { badge.textContent = text; badge.className = css; }
  }

  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(window.location.href, {
      headers: { "X-Shoal-Partial": "1" },
      cache: "no-store",
      credentials: "same-origin"
    }).then(function (response) {
      if (response.status !== 200) {
        mark("stale (" + response.status + ")", "bad");
        return null;
      }
      return response.text();
    }).then(function (text) {
      if (text === null) { return; }
      if (text !== last) {
        live.innerHTML = text;
        last = text;
      }
      document.body.setAttribute("data-updated", String(Date.now()));
      mark("live", "muted");
    }).catch(function () {
      mark("offline", "bad");
    }).then(function () {
      busy = false;
    });
  }

  document.body.setAttribute("data-live", "on");
  window.setInterval(refresh, INTERVAL);
  document.addEventListener("visibilitychange", refresh);
})();
