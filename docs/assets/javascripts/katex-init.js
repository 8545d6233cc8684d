// Typeset the formulas that pymdownx.arithmatex (generic mode) left in the page,
// with the KaTeX copy served from this site (no CDN).
//
// A display formula wider than the column (on a phone, say) is set in a smaller size
// until it fits, but not below MIN_SCALE of its size (legibility first): one that
// still does not fit scrolls sideways inside its own box, never the page.
var MIN_SCALE = 0.7;

function fitDisplayMath() {
  document.querySelectorAll(".katex-display").forEach(function (display) {
    display.style.fontSize = "";
    for (var i = 0; i < 5; i++) {  // widths are not exactly proportional: refine
      var box = display.clientWidth, need = display.scrollWidth;
      if (need <= box + 1) break;
      var now = parseFloat(display.style.fontSize || "1");
      var next = Math.max(now * box / need, MIN_SCALE);
      if (next >= now) break;
      display.style.fontSize = next + "em";
    }
  });
}

document$.subscribe(function () {
  document.querySelectorAll(".arithmatex").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: true,
    });
  });
  fitDisplayMath();
  document.fonts.ready.then(fitDisplayMath);  // KaTeX's fonts change the widths
});
window.addEventListener("resize", fitDisplayMath);
