/*
 * "Select all on this page" for the search results' bulk form (catalog/search.html). The form
 * works without it: each row has its own checkbox. Listeners are on the document, so results
 * htmx swaps in later need no setting up; only the hidden select-all box is shown on each load.
 */
(function () {
  "use strict";

  function boxes(form) {
    return Array.prototype.slice.call(form.querySelectorAll("[data-select-one]"));
  }

  function reflect(form) {
    var all = form.querySelector("[data-select-all]");
    if (!all) return;
    var picked = boxes(form).filter(function (box) {
      return box.checked;
    }).length;
    all.checked = picked > 0 && picked === boxes(form).length;
    all.indeterminate = picked > 0 && !all.checked;
  }

  function show(scope) {
    if (!scope.querySelectorAll) return;
    scope.querySelectorAll("[data-select-all]").forEach(function (all) {
      all.hidden = false;
      if (all.form) reflect(all.form); // the browser may have restored ticks
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.form) return;
    if (target.matches("[data-select-all]")) {
      boxes(target.form).forEach(function (box) {
        box.checked = target.checked;
      });
    } else if (target.matches("[data-select-one]")) {
      reflect(target.form);
    }
  });
  document.addEventListener("htmx:load", function (event) {
    show(event.target);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      show(document);
    });
  } else {
    show(document);
  }
})();
