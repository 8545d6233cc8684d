/* Step-through players of the backward pass (docs/hooks/player.py draws the frames).
 *
 * Without this script a player's steps read top to bottom. With it, one step shows at a
 * time: previous/next buttons, a slider, play/pause, and the keyboard (on the figure:
 * ← → step, Home/End first/last, Space play/pause; the slider has its own arrows).
 * The caption of the step shown is read out through an aria-live region.
 * No libraries; works with MkDocs Material's instant navigation (document$) and without.
 *
 * The seam for the run-in-the-page runner (issue 14): a runner that records an edited
 * program's trace in Pyodide can draw each step with @viz-js/viz from
 * engine.viz.Player.export(lang) (DOT source and caption per step) and hand the result to
 * window.twicegradPlayer.replaceSteps(figure, [{svg: "<svg ...>", caption: "..."}, ...]). */
(function () {
  "use strict";
  var PLAY_MS = 1600;

  function setUp(figure) {
    if (figure.dataset.ready) return figure.tgPlayer;
    figure.dataset.ready = "1";
    var steps = Array.prototype.slice.call(figure.querySelectorAll(".tg-player__step"));
    var controls = figure.querySelector(".tg-player__controls");
    var caption = figure.querySelector(".tg-player__caption");
    var slider = figure.querySelector(".tg-player__slider");
    var count = figure.querySelector(".tg-player__count");
    var play = figure.querySelector(".tg-player__play");
    var prev = figure.querySelector(".tg-player__prev");
    var next = figure.querySelector(".tg-player__next");
    var n = steps.length;
    var current = 0;
    var timer = null;
    var of = count.textContent.replace(/^\s*1\s*/, "").replace(/\s*\d+\s*$/, "");

    function show(i) {
      current = Math.max(0, Math.min(n - 1, i));
      steps.forEach(function (step, k) { step.hidden = k !== current; });
      caption.textContent = steps[current].querySelector(".tg-player__text").textContent;
      slider.value = String(current + 1);
      count.textContent = (current + 1) + " " + of + " " + n;
      prev.disabled = current === 0;
      next.disabled = current === n - 1;
      figure.dataset.current = String(current + 1);
    }
    function stop() {
      if (timer !== null) { clearInterval(timer); timer = null; }
      play.textContent = "▶";
      play.setAttribute("aria-label", play.dataset.play);
      play.title = play.dataset.play;
      play.setAttribute("aria-pressed", "false");
    }
    function start() {
      if (current === n - 1) show(0);
      play.textContent = "❚❚";
      play.setAttribute("aria-label", play.dataset.pause);
      play.title = play.dataset.pause;
      play.setAttribute("aria-pressed", "true");
      timer = setInterval(function () {
        if (current >= n - 1) { stop(); return; }
        show(current + 1);
      }, PLAY_MS);
    }
    function toggle() { if (timer === null) start(); else stop(); }

    figure.classList.add("tg-player--live");
    controls.hidden = false;
    caption.hidden = false;
    figure.tabIndex = 0;
    prev.addEventListener("click", function () { stop(); show(current - 1); });
    next.addEventListener("click", function () { stop(); show(current + 1); });
    play.addEventListener("click", toggle);
    slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10) - 1); });
    figure.addEventListener("keydown", function (event) {
      var onSlider = event.target === slider;
      var onButton = event.target.tagName === "BUTTON";
      var key = event.key;
      if (!onSlider && (key === "ArrowRight" || key === "ArrowLeft")) {
        stop(); show(current + (key === "ArrowRight" ? 1 : -1));
      } else if (!onSlider && (key === "Home" || key === "End")) {
        stop(); show(key === "Home" ? 0 : n - 1);
      } else if (key === " " && !onButton) {
        toggle();
      } else {
        return;
      }
      event.preventDefault();
    });
    show(0);

    function replace(newSteps) {
      stop();
      var list = figure.querySelector(".tg-player__steps");
      list.textContent = "";
      newSteps.forEach(function (step, k) {
        var li = document.createElement("li");
        li.className = "tg-player__step";
        li.dataset.step = String(k + 1);
        var drawing = document.createElement("div");
        drawing.className = "tg-player__drawing";
        drawing.innerHTML = step.svg;
        var text = document.createElement("p");
        text.className = "tg-player__text";
        text.textContent = step.caption;
        li.appendChild(drawing);
        li.appendChild(text);
        list.appendChild(li);
      });
      steps = Array.prototype.slice.call(list.querySelectorAll(".tg-player__step"));
      n = steps.length;
      slider.max = String(n);
      figure.dataset.steps = String(n);
      show(0);
    }
    figure.tgPlayer = { show: function (i) { stop(); show(i - 1); }, replaceSteps: replace };
    return figure.tgPlayer;
  }

  window.twicegradPlayer = {
    replaceSteps: function (figure, newSteps) {
      if (!newSteps.length) throw new Error("twicegradPlayer.replaceSteps: no steps");
      setUp(figure).replaceSteps(newSteps);
    }
  };

  function setUpAll() {
    document.querySelectorAll("figure.tg-player").forEach(setUp);
  }
  if (typeof document$ !== "undefined" && document$.subscribe) {
    document$.subscribe(setUpAll);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
})();
