/* The "Request an action" miner picker: the miner field's <datalist> is filled from the server as the
   person types (…/approvals/miners/?site=&q=: their own miners only, searched by id, model or site,
   at most data-picker-limit), so it stays usable with thousands of miners. Without JavaScript the
   field is plain text; the server checks the miner either way. */
(function () {
  "use strict";
  var input = document.querySelector("input[data-picker]");
  if (!input) return;
  var list = document.getElementById(input.getAttribute("list"));
  var site = document.getElementById("request-site");
  var hint = document.getElementById("miner-hint");
  var limit = input.getAttribute("data-picker-limit");
  var timer = null;
  var asked = 0;

  function show(rows, more) {
    list.textContent = "";
    rows.forEach(function (m) {
      var option = document.createElement("option");
      option.value = m.miner_id;
      option.label = [m.model, m.zone ? "zone " + m.zone : "", m.site].filter(Boolean).join(" · ");
      list.appendChild(option);
    });
    input.setAttribute("data-picker-shown", String(rows.length));
    if (!hint) return;
    if (!rows.length) hint.textContent = "None of your miners at this site matches.";
    else if (more) hint.textContent = "The first " + limit + " matches: type more of the miner id, model or site to narrow.";
    else hint.textContent = rows.length + (rows.length === 1 ? " miner matches." : " miners match.");
  }

  function load() {
    var ask = ++asked;
    var url = input.getAttribute("data-picker") + "?" + new URLSearchParams({ site: site ? site.value : "", q: input.value.trim() });
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { miners: [], more: false }; })
      .then(function (body) { if (ask === asked) show(body.miners, body.more); })
      .catch(function () { if (hint && ask === asked) hint.textContent = "Could not load your miners; type the miner id."; });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(load, 200);
  }

  input.addEventListener("input", later);
  input.addEventListener("focus", function () { if (!list.children.length) load(); });
  if (site) site.addEventListener("change", function () { input.value = ""; load(); });
  load();
})();
