"""Measure the docs' Run buttons in Debian's headless Chromium (issue 14).

    python benchmarks/runner_browser.py [--rounds 9] [--site-dir DIR]

Builds the site (unless --site-dir names a built one), serves it on 127.0.0.1 and, per
round, each measurement in a fresh browser context (an empty HTTP cache):

- first contentful paint of a concept page with the runner script and style, and
  without them (both requests answered with an empty file; every request of both
  variants passes the same interception), in alternating order; the per-round ratio
  with/without;
- Pyodide's cold start: the first Run click to its output (Pyodide, viz.js and the
  engine loaded, the block run), and the load alone as the page measures it;
- a warm run: the same block run again.

Prints the median and the range over the rounds. Timings on a shared machine are
noisy: read the ratio and the ranges, not one number.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_site import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PAGE = "/concepts/leaves-and-backward/"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _first_paint(browser, base: str, with_runner: bool) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        def route(r):  # both variants go through the same interception, which has a cost
            path = r.request.url.split("?")[0]
            if not with_runner and path.endswith("/runner.js"):
                r.fulfill(body="", content_type="text/javascript")
            elif not with_runner and path.endswith("/runner.css"):
                r.fulfill(body="", content_type="text/css")
            else:
                r.continue_()
        context.route("**/*", route)
        page = context.new_page()
        page.goto(base + PAGE, wait_until="load")
        page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
        return page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    finally:
        context.close()


def _cold_and_warm(browser, base: str) -> tuple[float, float, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(base + PAGE, wait_until="load")
        page.wait_for_load_state("networkidle")
        run = """async () => {
            const div = document.querySelector('div[data-tg="run"]');
            div.removeAttribute('data-tg-state');
            const t0 = performance.now();
            div.nextElementSibling.querySelector('.tg-run-button').click();
            while (!['done', 'failed'].includes(div.getAttribute('data-tg-state')))
                await new Promise(r => setTimeout(r, 5));
            return performance.now() - t0;
        }"""
        cold = page.evaluate(run)
        load = page.evaluate("window.tgRunner.stats.loadMs")
        page.evaluate(run)
        warm = page.evaluate("window.tgRunner.stats.lastRunMs")
        return cold, load, warm
    finally:
        context.close()


def _summary(name: str, values: list[float], unit: str) -> str:
    digits = 2 if unit == "x" else 0
    return (f"{name}: median {statistics.median(values):.{digits}f} {unit} "
            f"(range {min(values):.{digits}f} to {max(values):.{digits}f}, {len(values)} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--site-dir", type=Path)
    args = parser.parse_args()
    site = args.site_dir
    if site is None:
        site = Path(tempfile.mkdtemp(prefix="twicegrad-site-"))
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
                       cwd=ROOT, check=True)
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    from playwright.sync_api import sync_playwright
    paint_with, paint_without, ratios, colds, loads, warms = [], [], [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for i in range(args.rounds):
            order = (True, False) if i % 2 == 0 else (False, True)
            paint = {flag: _first_paint(browser, base, flag) for flag in order}
            paint_with.append(paint[True])
            paint_without.append(paint[False])
            ratios.append(paint[True] / paint[False])
            cold, load, warm = _cold_and_warm(browser, base)
            colds.append(cold)
            loads.append(load)
            warms.append(warm)
            print(f"round {i + 1}: paint {paint[True]:.0f}/{paint[False]:.0f} ms, cold {cold:.0f} ms "
                  f"(load {load:.0f}), warm {warm:.0f} ms", flush=True)
        browser.close()
    httpd.shutdown()
    print(_summary("first contentful paint, with the runner", paint_with, "ms"))
    print(_summary("first contentful paint, without it", paint_without, "ms"))
    print(_summary("ratio with/without (per round)", ratios, "x"))
    print(_summary("Pyodide cold start: first Run click to output", colds, "ms"))
    print(_summary("  of which loading (Pyodide, viz.js, engine)", loads, "ms"))
    print(_summary("warm run of the same block", warms, "ms"))


if __name__ == "__main__":
    main()
