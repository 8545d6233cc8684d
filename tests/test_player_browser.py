"""Issue 15: the step-through players, in the browser (Debian's /usr/bin/chromium through
Playwright; the site built and served on 127.0.0.1 as in tests/test_site.py).

One player (leaves-and-backward, ``z = x * y + x`` with x = 3, y = 2, run twice) is
stepped through with the keyboard, the slider and the buttons, in English and Chinese;
the captions expected are worked out by hand from that program (dz/dx = y + 1 = 3,
dz/dy = x = 3; the second call stops at MulBackward0).  Every player on the five concept
pages must be there with a picture per step.  No console errors, no request off
127.0.0.1.
"""
# ruff: noqa: RUF001  (expected Chinese captions, with their full-width punctuation)

from __future__ import annotations

import re

import pytest

from test_site import Watch, browser, server, site  # noqa: F401  (fixtures)

PLAYERS = {
    "/concepts/leaves-and-backward/": {"used-twice"},
    "/concepts/grad-vs-backward/": {"chain-grad-outputs"},
    "/concepts/create-graph/": {"create-graph-walk"},
    "/concepts/custom-functions/": {"custom-node-walk"},
    "/concepts/loss-terms/": {"trunk-retain", "trunk-freed"},
}


@pytest.fixture
def watch(server, browser):
    w = Watch(browser, server)
    yield w
    w.close()


def _player(watch, path, pid):
    page = watch.page
    page.goto(watch.base + path, wait_until="load")
    page.wait_for_load_state("networkidle")
    fig = page.locator(f'figure.tg-player[data-player="{pid}"]')
    assert fig.count() == 1
    page.wait_for_function(f'document.querySelector(\'figure[data-player="{pid}"]\').dataset.current === "1"')
    return page, fig


def _shown(fig) -> list:
    """The numbers of the steps visible now."""
    return [int(s.get_attribute("data-step")) for s in fig.locator(".tg-player__step").all() if s.is_visible()]


def _caption(fig) -> str:
    return fig.locator(".tg-player__caption").inner_text()


def test_step_through_with_keyboard_slider_and_buttons(watch):
    page, fig = _player(watch, "/concepts/leaves-and-backward/", "used-twice")
    n = int(fig.get_attribute("data-steps"))
    assert n == 8
    assert fig.locator(".tg-player__controls").is_visible()
    assert _shown(fig) == [1]
    assert _caption(fig) == "The walk starts: AddBackward0 gets the gradient 1.0."
    assert fig.locator('input[type="range"]').get_attribute("max") == str(n)

    fig.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert _shown(fig) == [3]
    caption = _caption(fig)
    assert "MulBackward0 multiplies 1.0 by the saved other = 2.0 and sends 2.0 to x" in caption
    assert "1.0 + 2.0 = 3.0" in caption and "freed" in caption
    assert fig.locator(".tg-player__count").inner_text() == "3 of 8"
    page.keyboard.press("End")
    assert _shown(fig) == [n]
    assert "MulBackward0 receives 1.0 but cannot run" in _caption(fig)
    assert "RuntimeError" in _caption(fig)
    assert fig.locator(".tg-player__next").is_disabled()
    page.keyboard.press("Home")
    assert _shown(fig) == [1]
    assert fig.locator(".tg-player__prev").is_disabled()

    slider = fig.locator('input[type="range"]')
    slider.focus()
    page.keyboard.press("ArrowRight")  # the slider's own keys
    assert _shown(fig) == [2]
    assert _caption(fig) == "AddBackward0 runs on the gradient 1.0 and sends 1.0 to MulBackward0, 1.0 to x."
    slider.fill("5")
    assert _shown(fig) == [5]
    assert _caption(fig) == "All of y's gradient has arrived: y.grad was None and is now 3.0."

    fig.locator(".tg-player__prev").click()
    assert _shown(fig) == [4]
    assert _caption(fig) == "All of x's gradient has arrived: x.grad was None and is now 3.0."
    fig.locator(".tg-player__play").click()
    page.wait_for_function('document.querySelector(\'figure[data-player="used-twice"]\').dataset.current === "5"',
                           timeout=10_000)
    fig.locator(".tg-player__play").click()  # pause
    assert fig.locator(".tg-player__play").get_attribute("aria-pressed") == "false"

    # the step shown has the current node drawn in gold with a thick border
    step = fig.locator(".tg-player__step:visible svg")
    assert step.count() == 1
    assert not watch.problems, watch.problems


def test_captions_in_chinese(watch):
    page, fig = _player(watch, "/zh/concepts/leaves-and-backward/", "used-twice")
    fig.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    caption = _caption(fig)
    assert "MulBackward0 把 1.0 乘以保存的 other = 2.0，把 2.0 传给 x" in caption
    assert "被释放" in caption
    assert re.fullmatch(r"3 / 8", fig.locator(".tg-player__count").inner_text().strip())
    page.keyboard.press("End")
    assert "无法运行" in _caption(fig)
    assert not watch.problems, watch.problems


def test_every_player_is_on_its_page_in_both_languages(watch):
    report = []
    for path, ids in PLAYERS.items():
        for prefix in ("", "/zh"):
            watch.page.goto(watch.base + prefix + path, wait_until="load")
            watch.page.wait_for_load_state("networkidle")
            for pid in ids:
                fig = watch.page.locator(f'figure.tg-player[data-player="{pid}"]')
                if fig.count() != 1:
                    report.append(f"{prefix}{path}: player {pid!r} found {fig.count()} times")
                    continue
                steps = fig.locator(".tg-player__step")
                with_svg = fig.locator(".tg-player__step svg g.node").count()
                if steps.count() < 2 or with_svg < steps.count():
                    report.append(f"{prefix}{path}: player {pid!r}: {steps.count()} steps, {with_svg} nodes drawn")
            report += [f"{prefix}{path}: {p}" for p in watch.problems]
            watch.problems.clear()
    assert not report, "\n".join(report)


def test_the_runner_seam_replaces_the_steps(watch):
    """What the run-in-the-page runner would call with steps it drew itself."""
    page, fig = _player(watch, "/concepts/leaves-and-backward/", "used-twice")
    page.evaluate("""() => window.twicegradPlayer.replaceSteps(
        document.querySelector('figure[data-player="used-twice"]'),
        [{svg: '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', caption: 'first'},
         {svg: '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', caption: 'second'}])""")
    assert fig.get_attribute("data-steps") == "2"
    assert _shown(fig) == [1] and _caption(fig) == "first"
    fig.focus()
    page.keyboard.press("ArrowRight")
    assert _shown(fig) == [2] and _caption(fig) == "second"
    assert fig.locator('input[type="range"]').get_attribute("max") == "2"
    assert not watch.problems, watch.problems
