/*
 * The recording player: a waveform drawn from precomputed peaks, seeking by click and drag,
 * ±10 s buttons, speed, keyboard shortcuts, masked intervals on the timeline.
 *
 * An <audio preload="metadata"> element does the playing; seeking sets its currentTime and the
 * browser asks the portal for the bytes it needs with Range requests. Without this script the
 * element keeps its native controls. Markup: catalog/detail.html ([data-player] and children).
 * No inline script or style anywhere, so a strict Content-Security-Policy can forbid both.
 *
 * Other scripts extend a player (mask-select.js marks parts to mask) through two hooks:
 * player.layers, functions drawing over the waveform, and player.gesture, which may claim a
 * press on the waveform before it becomes a seek. window.portalPlayer.get(root) finds one.
 */
(function () {
  "use strict";

  if (window.portalPlayer) {
    window.portalPlayer.initAll(document); // loaded again by an htmx swap: just pick up new markup
    return;
  }

  var BUTTON_SECONDS = 10;
  var KEY_SECONDS = 5;
  var LANE_NAMES = ["Caller", "Callee"];
  var players = new WeakMap();

  function clock(seconds) {
    if (!isFinite(seconds) || seconds < 0) seconds = 0;
    var whole = Math.floor(seconds);
    var hours = Math.floor(whole / 3600);
    var minutes = Math.floor((whole % 3600) / 60);
    var secs = whole % 60;
    var mm = hours ? String(minutes).padStart(2, "0") : String(minutes);
    return (hours ? hours + ":" : "") + mm + ":" + String(secs).padStart(2, "0");
  }

  function cssColor(element, name, fallback) {
    var value = getComputedStyle(element).getPropertyValue(name).trim();
    return value || fallback;
  }

  function parseSpans(text) {
    try {
      var spans = JSON.parse(text || "[]");
      return Array.isArray(spans) ? spans : [];
    } catch (error) {
      return [];
    }
  }

  function Player(root) {
    this.root = root;
    this.audio = root.querySelector("[data-audio]");
    this.ui = root.querySelector("[data-ui]");
    this.waveform = root.querySelector("[data-waveform]");
    this.canvas = root.querySelector("[data-canvas]");
    this.playButton = root.querySelector('[data-action="play"]');
    this.current = root.querySelector("[data-current]");
    this.total = root.querySelector("[data-total]");
    this.speed = root.querySelector("[data-speed]");
    this.errorBox = root.querySelector("[data-error]");
    this.peaksStatus = root.querySelector("[data-peaks-status]");
    this.knownDuration = parseFloat(root.dataset.duration) || 0;
    this.spans = parseSpans(root.dataset.maskedSpans);
    this.peaks = null; // {lanes: [[0..255]], seconds: duration the peaks cover}
    this.columns = null; // per lane, one level (0..1) per canvas pixel column
    this.scrub = null; // seconds under the pointer while dragging
    this.frame = 0;
    this.spokenSecond = -1;
    this.layers = []; // function (context, geometry) drawn after the masked spans
    // {down(event, seconds) -> claims the press?, move(event, seconds), up(...), cancel()}
    this.gesture = null;
    this.gestureActive = false;

    this.audio.controls = false; // ours replace the native ones once this script runs
    this.ui.hidden = false;
    this.bind();
    this.resize();
    this.loadPeaks(root.dataset.peaksUrl);
    this.showTime();
  }

  Player.prototype.duration = function () {
    var reported = this.audio.duration;
    return isFinite(reported) && reported > 0 ? reported : this.knownDuration;
  };

  Player.prototype.position = function () {
    return this.scrub !== null ? this.scrub : this.audio.currentTime || 0;
  };

  Player.prototype.seek = function (seconds) {
    var duration = this.duration();
    var target = Math.max(0, duration ? Math.min(seconds, duration) : seconds);
    // Before the metadata is in, this sets the default start position the browser applies
    // once it is: no request is wasted.
    this.audio.currentTime = target;
    this.showTime();
    this.draw();
  };

  Player.prototype.skip = function (seconds) {
    this.seek(this.position() + seconds);
  };

  Player.prototype.toggle = function () {
    var self = this;
    if (this.audio.paused || this.audio.ended) {
      var started = this.audio.play();
      if (started && started.catch) {
        started.catch(function (error) {
          if (error && error.name !== "AbortError") self.fail();
        });
      }
    } else {
      this.audio.pause();
    }
  };

  Player.prototype.fail = function () {
    this.errorBox.textContent =
      "The audio could not be played. If you were signed out, sign in again and reload this page.";
    this.errorBox.hidden = false;
  };

  Player.prototype.bind = function () {
    var self = this;
    var audio = this.audio;
    this.root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-action]");
      if (!button || !self.root.contains(button)) return;
      var action = button.dataset.action;
      if (action === "play") self.toggle();
      else if (action === "back") self.skip(-BUTTON_SECONDS);
      else if (action === "forward") self.skip(BUTTON_SECONDS);
    });
    this.speed.addEventListener("change", function () {
      audio.playbackRate = parseFloat(self.speed.value) || 1;
    });
    audio.addEventListener("ratechange", function () {
      self.speed.value = String(audio.playbackRate);
    });
    audio.addEventListener("play", function () {
      self.playButton.textContent = "Pause";
      self.playButton.setAttribute("aria-label", "Pause");
      self.errorBox.hidden = true;
      self.animate();
    });
    audio.addEventListener("pause", function () {
      self.playButton.textContent = "Play";
      self.playButton.setAttribute("aria-label", "Play");
      self.draw();
    });
    ["timeupdate", "seeked", "durationchange", "loadedmetadata", "ended"].forEach(function (name) {
      audio.addEventListener(name, function () {
        self.showTime();
        if (audio.paused) self.draw();
      });
    });
    audio.addEventListener("error", function () {
      self.fail();
    });

    // Click and drag to seek: the playhead follows the pointer, the audio seeks once on release
    // (one Range request per seek, not one per pixel dragged over).
    var waveform = this.waveform;
    waveform.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      waveform.setPointerCapture(event.pointerId);
      waveform.focus();
      if (self.gesture && self.gesture.down(event, self.timeAt(event.clientX))) {
        self.gestureActive = true;
        event.preventDefault();
        return;
      }
      self.scrub = self.timeAt(event.clientX);
      self.showTime();
      self.draw();
      event.preventDefault();
    });
    waveform.addEventListener("pointermove", function (event) {
      if (self.gestureActive) {
        self.gesture.move(event, self.timeAt(event.clientX));
        return;
      }
      if (self.scrub === null || !waveform.hasPointerCapture(event.pointerId)) return;
      self.scrub = self.timeAt(event.clientX);
      self.showTime();
      self.draw();
    });
    waveform.addEventListener("pointerup", function (event) {
      if (self.gestureActive) {
        self.gestureActive = false;
        self.gesture.up(event, self.timeAt(event.clientX));
        return;
      }
      if (self.scrub === null) return;
      var target = self.timeAt(event.clientX);
      self.scrub = null;
      self.seek(target);
    });
    waveform.addEventListener("pointercancel", function () {
      if (self.gestureActive) {
        self.gestureActive = false;
        self.gesture.cancel();
      }
      self.scrub = null;
      self.draw();
    });
    waveform.addEventListener("keydown", function (event) {
      // The slider's own keys; Space and ←/→ are handled for the whole page in onKey.
      if (event.key === "Home") self.seek(0);
      else if (event.key === "End") self.seek(self.duration());
      else if (event.key === "PageUp") self.skip(BUTTON_SECONDS);
      else if (event.key === "PageDown") self.skip(-BUTTON_SECONDS);
      else return;
      event.preventDefault();
    });

    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        self.resize();
      }).observe(waveform);
    } else {
      window.addEventListener("resize", function () {
        self.resize();
      });
    }
  };

  Player.prototype.timeAt = function (clientX) {
    var rect = this.canvas.getBoundingClientRect();
    var fraction = rect.width ? (clientX - rect.left) / rect.width : 0;
    return Math.max(0, Math.min(1, fraction)) * this.duration();
  };

  Player.prototype.showTime = function () {
    var position = this.position();
    var duration = this.duration();
    this.current.textContent = clock(position);
    if (duration) this.total.textContent = clock(duration);
    // Whole seconds only, so assistive technology is not flooded with updates.
    var second = Math.floor(position);
    if (second !== this.spokenSecond) {
      this.spokenSecond = second;
      this.waveform.setAttribute("aria-valuenow", String(second));
      this.waveform.setAttribute("aria-valuemax", String(Math.round(duration)));
      this.waveform.setAttribute(
        "aria-valuetext",
        clock(position) + " of " + (duration ? clock(duration) : "unknown length")
      );
    }
  };

  Player.prototype.animate = function () {
    var self = this;
    cancelAnimationFrame(this.frame);
    function step() {
      self.draw();
      if (!self.audio.paused) self.frame = requestAnimationFrame(step);
    }
    this.frame = requestAnimationFrame(step);
  };

  Player.prototype.loadPeaks = function (url) {
    var self = this;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("peaks: HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        var lanes = (data.channels || []).slice(0, 2);
        var perPeak = data.samples_per_peak / data.sample_rate;
        if (!lanes.length || !isFinite(perPeak)) throw new Error("peaks: empty");
        self.peaks = { lanes: lanes, seconds: lanes[0].length * perPeak };
        self.columns = null;
        self.draw();
      })
      .catch(function () {
        self.peaksStatus.hidden = false;
        self.draw();
      });
  };

  Player.prototype.resize = function () {
    var rect = this.waveform.getBoundingClientRect();
    var ratio = window.devicePixelRatio || 1;
    var width = Math.max(1, Math.round(rect.width * ratio));
    var height = Math.max(1, Math.round(rect.height * ratio));
    if (width !== this.canvas.width || height !== this.canvas.height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.columns = null;
    }
    this.draw();
  };

  // One level per pixel column: the loudest peak in the time the column covers.
  Player.prototype.computeColumns = function () {
    var width = this.canvas.width;
    var duration = this.duration() || this.peaks.seconds;
    var self = this;
    this.columns = this.peaks.lanes.map(function (peaks) {
      var levels = new Float32Array(width);
      var perSecond = peaks.length / self.peaks.seconds;
      for (var x = 0; x < width; x++) {
        var from = Math.floor(((x * duration) / width) * perSecond);
        var to = Math.max(from + 1, Math.floor((((x + 1) * duration) / width) * perSecond));
        var loudest = 0;
        for (var i = from; i < to && i < peaks.length; i++) {
          if (peaks[i] > loudest) loudest = peaks[i];
        }
        levels[x] = loudest / 255;
      }
      return levels;
    });
    this.columnsFor = duration;
  };

  Player.prototype.draw = function () {
    var canvas = this.canvas;
    var context = canvas.getContext("2d");
    var width = canvas.width;
    var height = canvas.height;
    var ratio = window.devicePixelRatio || 1;
    var duration = this.duration();
    if (this.peaks && (!this.columns || this.columnsFor !== (duration || this.peaks.seconds))) {
      this.computeColumns();
    }
    var laneCount = this.columns ? this.columns.length : this.waveform.classList.contains("stereo") ? 2 : 1;
    var laneHeight = height / laneCount;
    var playedColor = cssColor(this.root, "--accent", "#1f5fbf");
    var restColor = cssColor(this.root, "--wave", "#9aa6b5");
    var maskColor = cssColor(this.root, "--bad", "#b3261e");
    var inkColor = cssColor(this.root, "--ink", "#1d2430");
    var lineColor = cssColor(this.root, "--line", "#d9dee5");
    var playX = duration ? Math.round((this.position() / duration) * width) : 0;

    context.clearRect(0, 0, width, height);
    for (var lane = 0; lane < laneCount; lane++) {
      var top = lane * laneHeight;
      var middle = top + laneHeight / 2;
      var reach = laneHeight / 2 - 2 * ratio;
      if (lane > 0) {
        context.fillStyle = lineColor;
        context.fillRect(0, top, width, Math.max(1, ratio));
      }
      var levels = this.columns ? this.columns[lane] : null;
      for (var x = 0; x < width; x++) {
        var level = levels ? levels[x] : 0;
        var half = Math.max(ratio / 2, level * reach);
        context.fillStyle = x < playX ? playedColor : restColor;
        context.fillRect(x, middle - half, 1, half * 2);
      }
      if (laneCount === 2) {
        context.fillStyle = inkColor;
        context.font = Math.round(11 * ratio) + "px system-ui, sans-serif";
        context.textBaseline = "top";
        context.fillText(LANE_NAMES[lane], 4 * ratio, top + 3 * ratio);
      }
    }
    this.drawSpans(context, width, laneHeight, laneCount, duration, maskColor);
    var geometry = {
      width: width,
      height: height,
      laneHeight: laneHeight,
      laneCount: laneCount,
      duration: duration,
      ratio: ratio,
    };
    for (var layer = 0; layer < this.layers.length; layer++) {
      context.save();
      this.layers[layer].call(this, context, geometry);
      context.restore();
    }
    context.fillStyle = inkColor;
    context.fillRect(Math.min(width - 2 * ratio, playX), 0, 2 * ratio, height);
  };

  Player.prototype.drawSpans = function (context, width, laneHeight, laneCount, duration, color) {
    if (!duration || !this.spans.length) return;
    context.save();
    for (var i = 0; i < this.spans.length; i++) {
      var span = this.spans[i];
      var left = (span.start / duration) * width;
      var right = Math.min(width, (span.end / duration) * width);
      var lanes = span.lane === 0 || span.lane === 1 ? [Math.min(span.lane, laneCount - 1)] : null;
      var first = lanes ? lanes[0] : 0;
      var count = lanes ? 1 : laneCount;
      context.globalAlpha = 0.22;
      context.fillStyle = color;
      context.fillRect(left, first * laneHeight, Math.max(1, right - left), count * laneHeight);
      context.globalAlpha = 1;
      context.fillRect(left, first * laneHeight, Math.max(1, right - left), 3);
    }
    context.restore();
  };

  // --- keyboard: Space plays or pauses, ←/→ move 5 s, unless the user is typing ------------

  function isTyping(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    return Boolean(target.closest("input, textarea, select, [contenteditable]"));
  }

  function activates(target) {
    // Space already presses a focused button or follows a link: do not toggle twice.
    return Boolean(target && target.closest && target.closest("button, a[href], summary"));
  }

  function playerFor(target) {
    var root = (target && target.closest && target.closest("[data-player]")) ||
      document.querySelector("[data-player]");
    return root ? players.get(root) : null;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) return;
    var player = playerFor(event.target);
    if (!player) return;
    if (event.key === " " || event.key === "Spacebar") {
      if (activates(event.target)) return;
      player.toggle();
    } else if (event.key === "ArrowLeft") {
      player.skip(-KEY_SECONDS);
    } else if (event.key === "ArrowRight") {
      player.skip(KEY_SECONDS);
    } else {
      return;
    }
    event.preventDefault();
  }

  function initAll(scope) {
    var roots = [];
    if (scope.matches && scope.matches("[data-player]")) roots.push(scope);
    if (scope.querySelectorAll) roots.push.apply(roots, scope.querySelectorAll("[data-player]"));
    roots.forEach(function (root) {
      if (!players.has(root)) players.set(root, new Player(root));
    });
  }

  window.portalPlayer = {
    initAll: initAll,
    clock: clock,
    cssColor: cssColor,
    get: function (root) {
      return players.get(root) || null;
    },
  };
  document.addEventListener("keydown", onKey);
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
