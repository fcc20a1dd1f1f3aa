// What the pages do with JavaScript on top of htmx (they work without it): keep a row someone is working on
// when others' changes arrive, give focus back to the row that changed, and select rows for a bulk action.
(function () {
  "use strict";
  let refocus = null;

  function rowOf(element) {
    return element && element.closest ? element.closest("li.item") : null;
  }

  function focusRow(id) {
    const row = id && document.getElementById(id);
    if (!row) return;
    if (!row.hasAttribute("tabindex")) row.setAttribute("tabindex", "-1");
    row.focus({ preventScroll: false });
  }

  // Another person's change to a row (the poll's answer swaps rows out of band).
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    const target = event.detail.target;
    if (!target.matches || !target.matches("li.item")) return;
    const incoming = event.detail.fragment.firstElementChild;
    if (incoming && incoming.outerHTML === target.outerHTML) {
      event.detail.shouldSwap = false; // the same row: nothing to redraw, focus and selection stay
      return;
    }
    if (target.querySelector(".htmx-request")) {
      event.detail.shouldSwap = false; // the person's own request on this row answers with it
      return;
    }
    if (target.querySelector(".item-edit, .conflict")) {
      // Someone is writing here: keep their form. Its save carries the state they saw, so it cannot
      // overwrite this change unseen; say that it happened.
      event.detail.shouldSwap = false;
      if (!target.querySelector(".moved-hint")) {
        const hint = document.createElement("p");
        hint.className = "moved-hint";
        hint.setAttribute("role", "status");
        hint.textContent = "Someone else changed this item meanwhile; saving will show you what changed.";
        target.querySelector(".item-body").appendChild(hint);
      }
      return;
    }
    const picked = target.querySelector("input.pick");
    if (picked && picked.checked && incoming) {
      const box = incoming.querySelector("input.pick");
      if (box) box.checked = true;
    }
    if (target.contains(document.activeElement)) refocus = target.id;
  });

  let clearPicks = false;

  // A person's own change: the row they acted on is swapped in place; focus goes back to it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    const row = rowOf(elt);
    if (row && event.detail.target === row) refocus = row.id;
    if (elt && elt.id === "bulk" && event.detail.xhr.status < 300 && !/class="refusal"/.test(event.detail.serverResponse)) {
      clearPicks = true;
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll(".js-only[hidden]").forEach(function (element) { element.hidden = false; });
    if (clearPicks) {
      clearPicks = false;
      document.querySelectorAll("input.pick:checked, input.pick-section:checked").forEach(function (box) { box.checked = false; });
    }
    if (refocus) {
      const id = refocus;
      refocus = null;
      focusRow(id);
    }
    countPicked();
  });

  // Bulk actions: rows picked one by one, a section at a time, or everything the filter shows.
  function countPicked() {
    const counter = document.getElementById("bulk-count");
    if (!counter) return;
    const n = document.querySelectorAll("input.pick:checked").length;
    counter.textContent = n === 1 ? "1 item selected" : n + " items selected";
    document.querySelectorAll("#bulk button[name=state]").forEach(function (button) { button.disabled = n === 0; });
  }

  document.addEventListener("change", function (event) {
    const box = event.target;
    if (box.matches && box.matches("input.pick-section")) {
      const heading = box.closest(".section-title");
      let list = heading && heading.nextElementSibling;
      while (list && !list.matches("ul.items, h2, h3, h4, h5, h6")) list = list.nextElementSibling;
      if (list && list.matches("ul.items")) {
        list.querySelectorAll("input.pick").forEach(function (pick) { pick.checked = box.checked; });
      }
    }
    if (box.matches && box.matches("input.pick, input.pick-section")) countPicked();
  });

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-pick-all]");
    if (!button) return;
    const on = button.getAttribute("data-pick-all") === "on";
    document.querySelectorAll("input.pick").forEach(function (pick) { pick.checked = on; });
    countPicked();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".js-only").forEach(function (element) { element.hidden = false; });
    countPicked();
  });
})();
