// Run buttons for the twicegrad snippets (docs/hooks/runner.py marks the blocks).
//
// Every block marked data-tg="run" gets Run and Reset; its code is editable. The first
// Run loads Pyodide and @viz-js/viz from this site (assets/runner/, never a CDN), writes
// the repository's engine/*.py and runner_session.py into Pyodide's file system, and
// points engine.viz at viz.js for drawing. The blocks of a page share one namespace, in
// page order, as the tests run them: running a block runs the earlier unrun ones first.
// Blocks under a drawn graph (data-tg="graph-code") redraw their figure, blocks under a
// step-through player (data-tg="player-code") replay it with the edited program; exercises
// (data-tg="exercise") run and are checked in a fresh namespace each time.
(function () {
  "use strict";

  var ASSETS = new URL("../runner/", document.currentScript.src).href;
  var ZH = (document.documentElement.lang || "").indexOf("zh") === 0;
  var T = ZH ? {
    run: "运行", reset: "重置", check: "检查答案",
    note: "“运行”在你的浏览器里用 Pyodide 执行本页的 twicegrad 代码（第一次点击时加载），可以先修改代码再运行。" +
          "PyTorch 标签页是静态的：torch 无法在浏览器中运行，其输出就是测试套件拿来与引擎对照的那些输出。",
    loading: "正在加载 Python（Pyodide）…", engine: "正在加载引擎…", running: "运行中…",
    ran: function (ms) { return "用时 " + ms + " ms"; },
    loaded: function (s) { return "（Python 加载用了 " + s + " s）"; },
    right: "✓ 正确！", wrong: "✗ 还不对：", failed: "运行器出错：",
  } : {
    run: "Run", reset: "Reset", check: "Check",
    note: "Run executes this page's twicegrad code in your browser with Pyodide (loaded on the first click); " +
          "edit a block, then run it. PyTorch tabs stay static: torch cannot run in the browser, and their " +
          "outputs are the ones the test suite checks against the engine's.",
    loading: "Loading Python (Pyodide)…", engine: "Loading the engine…", running: "Running…",
    ran: function (ms) { return "ran in " + ms + " ms"; },
    loaded: function (s) { return " (Python loaded in " + s + " s)"; },
    right: "✓ Correct!", wrong: "✗ Not yet: ", failed: "The runner failed: ",
  };

  var python = null;       // Promise of {pyodide, mod}, made on the first click
  // Blocks that share a namespace, in page order: the page's own blocks, and on the API
  // page the examples of each docstring (run in a copy of its module's globals, as
  // doctest runs them).
  var groups = {};         // key -> {blocks: [...], session: null, object: dotted name or null}
  window.tgRunner = { stats: {}, loaded: function () { return python !== null; } };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function addScript(src) {
    return new Promise(function (resolve, reject) {
      var s = el("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  function loadPython(status) {
    if (python) return python;
    var started = performance.now();
    var tick = setInterval(function () {
      status(T.loading + " " + ((performance.now() - started) / 1000).toFixed(1) + " s");
    }, 100);
    python = (async function () {
      var scripts = Promise.all([addScript(ASSETS + "pyodide/pyodide.js"), addScript(ASSETS + "viz/viz-global.js")]);
      var manifest = fetch(ASSETS + "manifest.json").then(function (r) { return r.json(); });
      await scripts;
      var stats = window.tgRunner.stats;
      stats.scriptsMs = Math.round(performance.now() - started);
      var pyodide = await window.loadPyodide({ indexURL: ASSETS + "pyodide/", packages: [] });
      stats.pyodideMs = Math.round(performance.now() - started);
      var viz = await window.Viz.instance();
      stats.vizMs = Math.round(performance.now() - started);
      window.tgRenderDot = function (source) { return viz.renderString(source, { format: "svg" }); };
      clearInterval(tick);
      status(T.engine);
      var files = (await manifest).python;
      var names = Object.keys(files);
      var texts = await Promise.all(names.map(function (name) {
        return fetch(ASSETS + name + "?v=" + files[name]).then(function (r) {
          if (!r.ok) throw new Error(r.status + " " + name);
          return r.text();
        });
      }));
      pyodide.FS.mkdirTree("/home/pyodide/engine");
      names.forEach(function (name, i) { pyodide.FS.writeFile("/home/pyodide/" + name, texts[i]); });
      pyodide.runPython([
        "import sys",
        "sys.path.insert(0, '/home/pyodide')",
        "import js, engine.viz",
        "engine.viz.set_renderer(lambda source: str(js.tgRenderDot(source)))",
      ].join("\n"));
      var mod = pyodide.pyimport("runner_session");
      mod.free_graphs_iteratively();  // the browser's stack is small: see runner_session.py
      var keep = pyodide.runPython(
        "def _tg_keep_renderer(viz=engine.viz, render=engine.viz._renderer):\n" +
        "    if viz._renderer is None:\n" +
        "        viz.set_renderer(render)\n" +
        "_tg_keep_renderer");
      window.tgRunner.stats.loadMs = Math.round(performance.now() - started);
      return { pyodide: pyodide, mod: mod, keepRenderer: function () { keep(); } };
    })();
    var loading = python;
    loading.catch(function () {  // a failed load is tried again on the next click
      clearInterval(tick);
      if (python === loading) python = null;
    });
    return loading;
  }

  // ---- showing results -------------------------------------------------------------

  function showParts(out, parts) {
    out.textContent = "";
    parts.forEach(function (part) {
      if (part[0] === "svg") {
        var fig = el("div", "tg-svg");
        fig.innerHTML = part[1];
        out.appendChild(fig);
      } else {
        out.appendChild(el("pre", "tg-text", part[1]));
      }
    });
    out.hidden = parts.length === 0;
  }

  function codeOf(block) {
    // innerText keeps the line breaks an edit may have made as <br>; it is empty for a
    // block not rendered (a closed <details>, a hidden tab), whose textContent is exact.
    var code = block.code;
    var text = code.checkVisibility && code.checkVisibility() ? code.innerText : code.textContent;
    return text.replace(/\u00a0/g, " ");
  }

  // ---- one block's controls ----------------------------------------------------------

  function controls(div, kind) {
    var code = div.querySelector("pre > code");
    if (!code) return null;
    var block = { div: div, code: code, kind: kind, original: code.innerHTML, ran: false,
                  lang: div.getAttribute("data-tg-lang") || "python" };
    code.setAttribute("contenteditable", "plaintext-only");
    code.setAttribute("spellcheck", "false");
    var bar = el("div", "tg-runbar");
    block.runButton = el("button", "md-button md-button--primary tg-run-button", T.run);
    block.resetButton = el("button", "md-button tg-reset-button", T.reset);
    block.status = el("span", "tg-status");
    block.out = el("div", "tg-output");
    block.out.hidden = true;
    block.out.setAttribute("aria-live", "polite");
    bar.appendChild(block.runButton);
    if (kind === "exercise") {
      block.checkButton = el("button", "md-button tg-check-button", T.check);
      bar.appendChild(block.checkButton);
    }
    bar.appendChild(block.resetButton);
    bar.appendChild(block.status);
    div.after(bar, block.out);
    block.resetButton.addEventListener("click", function () {
      code.innerHTML = block.original;
      block.out.hidden = true;
      block.out.textContent = "";
      block.status.textContent = "";
      div.removeAttribute("data-tg-state");
    });
    code.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.shiftKey || e.metaKey)) {
        e.preventDefault();
        block.runButton.click();
      }
    });
    return block;
  }

  async function withPython(block, work) {
    var firstLoad = !python;
    block.div.setAttribute("data-tg-state", "running");
    block.status.textContent = T.running;
    try {
      var py = await loadPython(function (text) { block.status.textContent = text; });
      block.status.textContent = T.running;
      var t0 = performance.now();
      await work(py);
      var ms = Math.round(performance.now() - t0);
      window.tgRunner.stats.lastRunMs = ms;
      block.status.textContent = T.ran(ms) +
        (firstLoad ? T.loaded((window.tgRunner.stats.loadMs / 1000).toFixed(1)) : "");
      if (block.div.getAttribute("data-tg-state") === "running") block.div.setAttribute("data-tg-state", "done");
    } catch (err) {
      if (err && err.pyodide_fatal_error) {  // Pyodide cannot go on: start afresh on the next click
        python = null;
        Object.keys(groups).forEach(function (key) {
          groups[key].session = null;
          groups[key].blocks.forEach(function (b) { b.ran = false; });
        });
      }
      block.div.setAttribute("data-tg-state", "failed");
      block.status.textContent = "";
      showParts(block.out, [["text", T.failed + (err && err.message ? err.message : String(err))]]);
    }
  }

  function runOne(py, block) {
    var text = codeOf(block);
    var group = block.group;
    var name = "<block " + (group.blocks.indexOf(block) + 1) + ">";
    if (!group.session) {
      group.session = group.object ? py.mod.Session.for_object(group.object) : py.mod.Session();
    }
    var session = group.session;
    var parts;
    if (block.lang === "pycon") {
      var examples = py.mod.split_transcript(text);
      var result = session.run_examples(examples, name);
      parts = result.toJs();
      result.destroy();
      examples.destroy();
    } else {
      var printed = session.run_code(text, name);
      parts = printed ? [["text", printed]] : [];
    }
    block.ran = true;
    py.keepRenderer();  // an example may have called engine.viz.set_renderer itself
    showParts(block.out, parts);
    if (block.out.hidden && block.lang === "python") showParts(block.out, [["text", "✓"]]);
  }

  function setUpGroupBlock(block, key, object) {
    var group = groups[key] || (groups[key] = { blocks: [], session: null, object: object });
    block.group = group;
    group.blocks.push(block);
    block.runButton.addEventListener("click", function () {
      withPython(block, async function (py) {
        var blocks = group.blocks;
        var i = blocks.indexOf(block);
        for (var j = 0; j < i; j++) {
          if (!blocks[j].ran) {
            runOne(py, blocks[j]);
            blocks[j].div.setAttribute("data-tg-state", "done");
          }
        }
        runOne(py, block);
      });
    });
  }

  function setUpGraphBlock(block) {
    block.runButton.addEventListener("click", function () {
      withPython(block, async function (py) {
        var result = py.mod.run_graph(codeOf(block), "<graph>").toJs();
        var details = block.div.closest("details");
        var figure = details && details.previousElementSibling;
        if (result[0] === "svg" && figure && figure.matches("figure.tg-graph")) {
          var old = figure.querySelector("svg");
          var holder = el("div");
          holder.innerHTML = result[1];
          var svg = holder.querySelector("svg");
          svg.setAttribute("role", "img");
          svg.setAttribute("aria-label", figure.getAttribute("data-graph"));
          if (old) old.replaceWith(svg); else figure.prepend(svg);
          showParts(block.out, []);
        } else {
          showParts(block.out, [result]);
        }
      });
    });
  }

  // The code under a step-through player (docs/hooks/player.py): run, it records the
  // edited program's backward, draws each step with viz.js and replays the player with
  // them (player.js: window.twicegradPlayer.replaceSteps); Reset brings back the steps
  // drawn at build time.
  function stepsOf(figure) {
    return Array.prototype.map.call(figure.querySelectorAll(".tg-player__step"), function (li) {
      return { svg: li.querySelector(".tg-player__drawing").innerHTML,
               caption: li.querySelector(".tg-player__text").textContent };
    });
  }

  function setUpPlayerBlock(block) {
    var details = block.div.closest("details");
    var figure = details && details.previousElementSibling;
    if (!figure || !figure.matches("figure.tg-player")) return;
    var original = stepsOf(figure);
    block.runButton.addEventListener("click", function () {
      withPython(block, async function (py) {
        var result = py.mod.run_player(codeOf(block), ZH ? "zh" : "en", "<player>");
        var parts = result.toJs({ dict_converter: Object.fromEntries });
        result.destroy();
        if (parts[0] !== "steps") {
          showParts(block.out, [parts]);
          block.div.setAttribute("data-tg-state", "failed");
          return;
        }
        var steps = parts[1].map(function (step) {
          return { svg: window.tgRenderDot(step.dot), caption: step.caption };
        });
        window.twicegradPlayer.replaceSteps(figure, steps);
        figure.dataset.replayed = "1";
        showParts(block.out, []);
      });
    });
    block.resetButton.addEventListener("click", function () {
      if (figure.dataset.replayed) {
        window.twicegradPlayer.replaceSteps(figure, original);
        delete figure.dataset.replayed;
      }
    });
  }

  function setUpExercise(block) {
    var id = block.div.getAttribute("data-exercise");
    var holder = document.querySelector('.tg-check[data-exercise="' + id + '"]');
    var check = holder ? JSON.parse(holder.getAttribute("data-check")) : null;
    block.runButton.addEventListener("click", function () {
      withPython(block, async function (py) {
        var printed = py.mod.Session().run_code(codeOf(block), "<exercise>");
        showParts(block.out, [["text", printed || "✓"]]);
      });
    });
    block.checkButton.addEventListener("click", function () {
      withPython(block, async function (py) {
        var result = py.mod.grade(codeOf(block), check, "<exercise>").toJs();
        var verdict = el("p", result[0] ? "tg-verdict tg-right" : "tg-verdict tg-wrong",
                         result[0] ? T.right : T.wrong);
        block.out.textContent = "";
        block.out.appendChild(verdict);
        if (result[1]) block.out.appendChild(el("pre", "tg-text", result[1]));
        block.out.hidden = false;
        block.div.setAttribute("data-tg-grade", result[0] ? "right" : "wrong");
      });
    });
  }

  function setUp() {
    document.querySelectorAll('div[data-tg="run"]').forEach(function (div) {
      var block = controls(div, "page");
      if (block) setUpGroupBlock(block, "page", null);
    });
    // docstring examples on the API page (mkdocstrings): a pycon block under an object's heading
    document.querySelectorAll(".doc-contents div.highlight").forEach(function (div) {
      var object = div.closest(".doc-object");
      var heading = object && object.querySelector(":scope > .doc-heading");
      if (!heading || !heading.id || !div.querySelector(".gp")) return;
      div.setAttribute("data-tg", "api");
      div.setAttribute("data-tg-lang", "pycon");
      var block = controls(div, "api");
      if (block) setUpGroupBlock(block, "api:" + heading.id, heading.id);
    });
    // the code under a figure drawn at build time (docs/hooks/graphs.py)
    document.querySelectorAll("figure.tg-graph + details div.highlight").forEach(function (div) {
      div.setAttribute("data-tg", "graph-code");
      var block = controls(div, "graph");
      if (block) setUpGraphBlock(block);
    });
    // the code under a step-through player (docs/hooks/player.py)
    document.querySelectorAll("figure.tg-player + details div.highlight").forEach(function (div) {
      div.setAttribute("data-tg", "player-code");
      var block = controls(div, "player");
      if (block) setUpPlayerBlock(block);
    });
    document.querySelectorAll('div[data-tg="exercise"]').forEach(function (div) {
      var block = controls(div, "exercise");
      if (block) setUpExercise(block);
    });
    var first = document.querySelector('div[data-tg="run"], div[data-tg="exercise"], div[data-tg="api"]');
    if (first) {
      var anchor = first.closest(".tabbed-set") || first;
      anchor.before(el("p", "tg-runner-note", T.note));
    }
  }

  setUp();
})();
