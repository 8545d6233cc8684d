// Console (pycon) blocks: the copy button copies only the code, and output lines wrap.
//
// Pygments marks the ">>> " and "... " prompts with class "gp". In a block that has
// them, every line that starts with a prompt is code; every other line is output (a
// printed value, a traceback, a warning). Output lines are wrapped in
// <span class="tg-output">, which the stylesheet lets break anywhere, so a long error
// message wraps inside the block instead of scrolling sideways. Material's copy button
// copies the "data-copy" attribute of the code element when there is one: here, the
// code lines without their prompts.
document$.subscribe(function () {
  document.querySelectorAll(".highlight code").forEach(function (code) {
    if (code.dataset.copy !== undefined || !code.querySelector(".gp")) return;
    // One text node per newline, so that a line is a run of sibling nodes.
    Array.from(code.childNodes).forEach(function (node) {
      if (node.nodeType !== Node.TEXT_NODE) return;
      var parts = node.data.split(/(\n)/).filter(Boolean);
      if (parts.length < 2) return;
      parts.forEach(function (part) { code.insertBefore(document.createTextNode(part), node); });
      code.removeChild(node);
    });
    var lines = [[]];
    Array.from(code.childNodes).forEach(function (node) {
      if (node.nodeType === Node.TEXT_NODE && node.data === "\n") lines.push([]);
      else lines[lines.length - 1].push(node);
    });
    var copied = [];
    lines.forEach(function (nodes) {
      // (skipping the empty line-number anchor "<a id=...__codelineno-...>" each line starts with)
      var content = nodes.filter(function (n) { return !(n.nodeName === "A" && n.id.indexOf("__codelineno") !== -1); });
      if (!content.length) return;
      var first = content[0];
      if (first.nodeType === Node.ELEMENT_NODE && first.classList.contains("gp")) {
        copied.push(content.slice(1).map(function (n) { return n.textContent; }).join(""));
      } else {
        var out = document.createElement("span");
        out.className = "tg-output";
        first.parentNode.insertBefore(out, first);
        content.forEach(function (n) { out.appendChild(n); });
      }
    });
    code.dataset.copy = copied.join("\n") + "\n";
  });
});
