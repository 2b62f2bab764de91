/*
 * Marking parts of a call to mask, on the recording page's player (catalog/detail.html,
 * [data-mask-panel] inside [data-player]; needs player.js, loaded before this file).
 *
 * "Mark parts to mask" turns the mode on: a drag across the waveform marks a part, a drag on a
 * mark's edge moves that edge, a click still moves the playhead. Each mark is a row of the list
 * below the waveform: start and end in seconds (0.1 s steps), the side of the call (caller,
 * callee or both; only both for mono), "keep only this part" (the trim) and delete. The marks
 * travel as JSON in the form's hidden `spans` field; htmx posts the form to compliance:mask_new,
 * which answers with the problems (shown in #mask-problems) or, once the request is made, with
 * a notice that replaces the whole panel (#mask-form). No inline script or style.
 */
(function () {
  "use strict";

  var EDGE_PIXELS = 6; // a press this close to a mark's edge moves that edge
  var DRAG_PIXELS = 4; // a press that moves less than this is a click: it seeks
  var ADD_SECONDS = 5; // "Mark 5 s at the playhead", for keyboards
  var LANES = { caller: [0], callee: [1] }; // "both" covers every lane
  var SIDE_NAMES = { caller: "caller", callee: "callee", both: "both sides" };

  var controllers = new WeakMap();

  function tenths(seconds) {
    return Math.round(seconds * 10) / 10;
  }

  function shown(seconds) {
    return tenths(seconds).toFixed(1);
  }

  function clock(seconds) {
    // 75.25 -> "1:15.3": the marks' precision, as people read times in a call.
    var rounded = tenths(seconds);
    var minutes = Math.floor(rounded / 60);
    var rest = (rounded - minutes * 60).toFixed(1);
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function MaskSelection(root, player) {
    var panel = root.querySelector("[data-mask-panel]");
    this.root = root;
    this.player = player;
    this.panel = panel;
    this.toggle = root.querySelector("[data-mask-toggle]");
    this.form = panel.querySelector("[data-mask-request]");
    this.list = panel.querySelector("[data-mask-list]");
    this.rowTemplate = panel.querySelector("template[data-mask-row]");
    this.spansInput = panel.querySelector("[data-mask-spans]");
    this.empty = panel.querySelector("[data-mask-empty]");
    this.trimStart = panel.querySelector("[data-trim-start]");
    this.trimEnd = panel.querySelector("[data-trim-end]");
    this.problems = panel.querySelector("#mask-problems");
    this.status = panel.querySelector("[data-mask-status]");
    // The recording's own duration bounds the marks: the server checks them against it.
    this.limit = parseFloat(panel.dataset.duration) || player.duration();
    this.marks = []; // {start, end, channel, row}
    this.active = null; // the mark being dragged or edited, drawn stronger
    this.drag = null;
    this.on = false;

    var max = String(Math.ceil(this.limit * 10) / 10);
    [this.trimStart, this.trimEnd].forEach(function (input) {
      input.max = max;
    });
    this.max = max;

    var self = this;
    player.layers.push(function (context, geometry) {
      self.paint(context, geometry);
    });
    player.gesture = {
      down: function (event, seconds) {
        return self.down(event, seconds);
      },
      move: function (event, seconds) {
        self.move(event, seconds);
      },
      up: function (event, seconds) {
        self.up(event, seconds);
      },
      cancel: function () {
        self.cancel();
      },
    };
    this.bind();
    this.toggle.hidden = false;
  }

  MaskSelection.prototype.bind = function () {
    var self = this;
    this.toggle.addEventListener("click", function () {
      self.setMode(!self.on);
    });
    this.panel.addEventListener("click", function (event) {
      var button = event.target.closest("button[type=button]");
      if (!button) return;
      if (button.hasAttribute("data-mask-add")) self.addAtPlayhead();
      else if (button.hasAttribute("data-mask-cancel")) self.clear(true);
      else if (button.hasAttribute("data-trim-clear")) self.setTrim("", "");
    });
    [this.trimStart, this.trimEnd].forEach(function (input) {
      input.addEventListener("input", function () {
        self.checkTrim();
        self.player.draw();
      });
    });
    // Hovering over an edge shows that it can be dragged.
    this.player.waveform.addEventListener("pointermove", function (event) {
      if (self.drag) return;
      var edge = self.on && Boolean(self.edgeAt(event.clientX));
      self.player.waveform.classList.toggle("at-edge", edge);
    });
    this.form.addEventListener("htmx:beforeSwap", function (event) {
      // The problems go to #mask-problems as the form asks; a request made is retargeted by
      // the server: its notice replaces the whole panel.
      if (event.detail.xhr.getResponseHeader("HX-Retarget")) self.finish();
    });
    this.form.addEventListener("htmx:responseError", function (event) {
      self.problems.textContent =
        "The request was not made: the portal answered " + event.detail.xhr.status +
        ". If you were signed out, sign in again and reload this page.";
    });
    this.form.addEventListener("htmx:sendError", function () {
      self.problems.textContent =
        "The portal could not be reached; nothing was requested. Try again.";
    });
  };

  MaskSelection.prototype.setMode = function (on) {
    this.on = on;
    this.panel.hidden = !on;
    this.toggle.setAttribute("aria-pressed", on ? "true" : "false");
    this.player.waveform.classList.toggle("selecting", on);
    if (!on) this.player.waveform.classList.remove("at-edge");
    this.player.draw();
  };

  // --- marks ----------------------------------------------------------------------------

  MaskSelection.prototype.clamp = function (seconds) {
    return Math.max(0, Math.min(this.limit, tenths(seconds)));
  };

  MaskSelection.prototype.add = function (start, end) {
    var mark = { start: start, end: end, channel: "both", row: null };
    mark.row = this.makeRow(mark);
    this.marks.push(mark);
    this.list.appendChild(mark.row);
    this.renumber();
    return mark;
  };

  MaskSelection.prototype.remove = function (mark) {
    var index = this.marks.indexOf(mark);
    if (index < 0) return;
    this.marks.splice(index, 1);
    mark.row.remove();
    if (this.active === mark) this.active = null;
    this.renumber();
    this.player.draw();
  };

  MaskSelection.prototype.setSpan = function (mark, a, b) {
    mark.start = Math.min(a, b);
    mark.end = Math.max(a, b);
    this.showValues(mark);
    this.serialize();
    this.player.draw();
  };

  MaskSelection.prototype.addAtPlayhead = function () {
    var start = this.clamp(this.player.position());
    var end = Math.min(this.limit, start + ADD_SECONDS);
    if (end - start < 0.1) start = Math.max(0, end - ADD_SECONDS);
    var mark = this.add(start, end);
    this.setSpan(mark, start, end);
    this.say(mark, "marked");
    mark.row.querySelector("[data-start]").focus();
  };

  MaskSelection.prototype.clear = function (leave) {
    while (this.marks.length) this.remove(this.marks[0]);
    this.setTrim("", "");
    this.problems.textContent = "";
    if (leave) {
      this.setMode(false);
      this.toggle.focus();
    }
  };

  MaskSelection.prototype.finish = function () {
    this.marks = [];
    this.active = null;
    this.setMode(false);
    this.toggle.hidden = true; // the panel is gone; a new request starts from a fresh page
    this.player.gesture = null;
  };

  MaskSelection.prototype.setTrim = function (start, end) {
    this.trimStart.value = start;
    this.trimEnd.value = end;
    this.checkTrim();
    this.player.draw();
  };

  MaskSelection.prototype.trim = function () {
    var start = parseFloat(this.trimStart.value);
    var end = parseFloat(this.trimEnd.value);
    return isFinite(start) && isFinite(end) && end > start ? { start: start, end: end } : null;
  };

  MaskSelection.prototype.checkTrim = function () {
    var start = this.trimStart.value.trim();
    var end = this.trimEnd.value.trim();
    var message = "";
    if ((start === "") !== (end === "")) {
      message = "Give both ends of the part to keep, or neither.";
    } else if (start !== "" && parseFloat(end) <= parseFloat(start)) {
      message = "The part to keep must end after it starts.";
    }
    this.trimEnd.setCustomValidity(message);
  };

  MaskSelection.prototype.serialize = function () {
    this.spansInput.value = JSON.stringify(
      this.marks.map(function (mark) {
        return {
          start: Math.round(mark.start * 1000) / 1000,
          end: Math.round(mark.end * 1000) / 1000,
          channel: mark.channel,
        };
      })
    );
    this.empty.hidden = this.marks.length > 0;
  };

  MaskSelection.prototype.say = function (mark, what) {
    var number = this.marks.indexOf(mark) + 1;
    this.status.textContent =
      "Part " + number + " " + what + ": " + clock(mark.start) + " to " + clock(mark.end) +
      ", " + SIDE_NAMES[mark.channel] + ".";
  };

  // --- the list -------------------------------------------------------------------------

  MaskSelection.prototype.makeRow = function (mark) {
    var self = this;
    var row = this.rowTemplate.content.firstElementChild.cloneNode(true);
    var start = row.querySelector("[data-start]");
    var end = row.querySelector("[data-end]");
    var channel = row.querySelector("[data-channel]");
    start.max = end.max = this.max;
    channel.value = mark.channel;

    function typed() {
      var from = parseFloat(start.value);
      var to = parseFloat(end.value);
      end.setCustomValidity(
        isFinite(from) && isFinite(to) && to <= from ? "The part must end after it starts." : ""
      );
      if (isFinite(from)) mark.start = Math.max(0, Math.min(self.limit, from));
      if (isFinite(to)) mark.end = Math.max(0, Math.min(self.limit, to));
      self.serialize();
      self.player.draw();
    }
    start.addEventListener("input", typed);
    end.addEventListener("input", typed);
    channel.addEventListener("change", function () {
      mark.channel = channel.value;
      self.serialize();
      self.player.draw();
    });
    row.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) return;
      if (button.hasAttribute("data-remove")) {
        var index = self.marks.indexOf(mark);
        var number = index + 1;
        var next = self.marks[index + 1] || self.marks[index - 1];
        self.remove(mark);
        self.status.textContent = "Part " + number + " deleted.";
        (next ? next.row.querySelector("[data-remove]") : self.toggle).focus();
      } else if (button.hasAttribute("data-keep")) {
        self.setTrim(shown(mark.start), shown(mark.end));
        self.remove(mark);
        self.trimStart.focus();
      }
    });
    row.addEventListener("focusin", function () {
      self.active = mark;
      self.player.draw();
    });
    row.addEventListener("focusout", function () {
      if (self.active === mark) self.active = null;
      self.player.draw();
    });
    return row;
  };

  MaskSelection.prototype.showValues = function (mark) {
    var start = mark.row.querySelector("[data-start]");
    var end = mark.row.querySelector("[data-end]");
    // Not under the user's cursor: a drag never rewrites what they are typing.
    if (document.activeElement !== start) start.value = shown(mark.start);
    if (document.activeElement !== end) end.value = shown(mark.end);
    end.setCustomValidity("");
  };

  MaskSelection.prototype.renumber = function () {
    // Each row's controls say which part they belong to: "Part 2 ends at (seconds)".
    var labels = {
      "[data-start]": "Part # starts at (seconds)",
      "[data-end]": "Part # ends at (seconds)",
      "[data-channel]": "Part #: side of the call",
      "[data-remove]": "Delete part #",
      "[data-keep]": "Keep only part # of the call",
    };
    this.marks.forEach(function (mark, index) {
      var number = String(index + 1);
      mark.row.querySelector("[data-number]").textContent = number;
      Object.keys(labels).forEach(function (selector) {
        var label = labels[selector].replace("#", number);
        mark.row.querySelector(selector).setAttribute("aria-label", label);
      });
    });
    this.serialize();
  };

  // --- the pointer ----------------------------------------------------------------------

  MaskSelection.prototype.edgeAt = function (clientX) {
    var rect = this.player.canvas.getBoundingClientRect();
    var duration = this.player.duration();
    if (!duration || !rect.width) return null;
    var best = null;
    var bestDistance = EDGE_PIXELS + 1;
    for (var i = this.marks.length - 1; i >= 0; i--) {
      var mark = this.marks[i];
      var left = rect.left + (mark.start / duration) * rect.width;
      var right = rect.left + (mark.end / duration) * rect.width;
      var toLeft = Math.abs(clientX - left);
      var toRight = Math.abs(clientX - right);
      if (toLeft < bestDistance) {
        best = { mark: mark, anchor: mark.end };
        bestDistance = toLeft;
      }
      if (toRight < bestDistance) {
        best = { mark: mark, anchor: mark.start };
        bestDistance = toRight;
      }
    }
    return best;
  };

  MaskSelection.prototype.down = function (event, seconds) {
    if (!this.on) return false;
    var edge = this.edgeAt(event.clientX);
    if (edge) {
      this.drag = { mark: edge.mark, anchor: edge.anchor, moved: true };
      this.active = edge.mark;
      this.player.draw();
    } else {
      this.drag = { mark: null, anchor: this.clamp(seconds), x: event.clientX, moved: false };
    }
    return true;
  };

  MaskSelection.prototype.move = function (event, seconds) {
    var drag = this.drag;
    if (!drag) return;
    if (!drag.moved) {
      if (Math.abs(event.clientX - drag.x) < DRAG_PIXELS) return;
      drag.moved = true;
      drag.mark = this.add(drag.anchor, drag.anchor);
      this.active = drag.mark;
    }
    this.setSpan(drag.mark, drag.anchor, this.clamp(seconds));
  };

  MaskSelection.prototype.up = function (event, seconds) {
    var drag = this.drag;
    this.drag = null;
    if (!drag) return;
    if (!drag.moved) {
      this.player.seek(seconds); // a click: it moves the playhead, as outside the mode
      return;
    }
    this.setSpan(drag.mark, drag.anchor, this.clamp(seconds));
    this.active = null;
    if (drag.mark.end - drag.mark.start < 0.1) {
      this.remove(drag.mark); // nothing left of it
      return;
    }
    this.say(drag.mark, "marked");
    this.player.draw();
  };

  MaskSelection.prototype.cancel = function () {
    var drag = this.drag;
    this.drag = null;
    if (drag && drag.mark && drag.mark.end - drag.mark.start < 0.1) this.remove(drag.mark);
    this.active = null;
    this.player.draw();
  };

  // --- drawing (a player layer) -----------------------------------------------------------

  MaskSelection.prototype.paint = function (context, g) {
    if (!this.on || !g.duration) return;
    var css = window.portalPlayer.cssColor;
    var color = css(this.root, "--selection", "#c2571a");
    var ink = css(this.root, "--ink", "#1d2430");
    var x = function (seconds) {
      return Math.round((Math.min(seconds, g.duration) / g.duration) * g.width);
    };
    var trim = this.trim();
    if (trim) {
      // What the trim cuts away is faded; its ends are dashed lines.
      context.fillStyle = "#ffffff";
      context.globalAlpha = 0.65;
      context.fillRect(0, 0, x(trim.start), g.height);
      context.fillRect(x(trim.end), 0, g.width - x(trim.end), g.height);
      context.globalAlpha = 1;
      context.strokeStyle = ink;
      context.lineWidth = g.ratio;
      context.setLineDash([4 * g.ratio, 3 * g.ratio]);
      context.beginPath();
      [trim.start, trim.end].forEach(function (seconds) {
        context.moveTo(x(seconds) + 0.5, 0);
        context.lineTo(x(seconds) + 0.5, g.height);
      });
      context.stroke();
      context.setLineDash([]);
    }
    context.font = "600 " + Math.round(11 * g.ratio) + "px system-ui, sans-serif";
    context.textBaseline = "bottom";
    for (var i = 0; i < this.marks.length; i++) {
      var mark = this.marks[i];
      if (!(mark.end > mark.start)) continue;
      var left = x(mark.start);
      var width = Math.max(g.ratio, x(mark.end) - left);
      var lanes = g.laneCount > 1 && LANES[mark.channel] ? LANES[mark.channel] : null;
      var top = lanes ? lanes[0] * g.laneHeight : 0;
      var height = lanes ? g.laneHeight : g.height;
      context.fillStyle = color;
      context.globalAlpha = mark === this.active ? 0.42 : 0.26;
      context.fillRect(left, top, width, height);
      context.globalAlpha = 1;
      // The edges, with a grip in the middle: what a drag adjusts.
      var edge = 2 * g.ratio;
      var grip = Math.min(height / 2, 16 * g.ratio);
      [left, left + width - edge].forEach(function (at) {
        context.fillRect(at, top, edge, height);
        context.fillRect(at - g.ratio, top + (height - grip) / 2, edge + 2 * g.ratio, grip);
      });
      context.fillStyle = ink;
      context.fillText(String(i + 1), left + 4 * g.ratio, top + height - 2 * g.ratio);
    }
  };

  // --- start ----------------------------------------------------------------------------

  function initAll(scope) {
    if (!window.portalPlayer || !scope.querySelectorAll) return;
    var roots = [];
    if (scope.matches && scope.matches("[data-player]")) roots.push(scope);
    roots.push.apply(roots, scope.querySelectorAll("[data-player]"));
    roots.forEach(function (root) {
      if (controllers.has(root) || !root.querySelector("[data-mask-panel]")) return;
      window.portalPlayer.initAll(root);
      var player = window.portalPlayer.get(root);
      if (player) controllers.set(root, new MaskSelection(root, player));
    });
  }

  document.addEventListener("htmx:load", function (event) {
    initAll(event.target);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      initAll(document);
    });
  } else {
    initAll(document);
  }
})();
