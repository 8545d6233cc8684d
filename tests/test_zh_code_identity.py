"""Each Chinese page's code is its English twin's code, byte for byte.

For every ``docs/**/X.zh.md`` beside an ``X.md``, the fenced blocks are compared in
order: same language and same content (indentation inside tabs removed), and for
blocks that run in a namespace of their own, the same tab or title ("PyTorch",
"micrograd"). Only attributes meant for the reader, a graph's ``caption`` and a
block's ``title`` when it is not a namespace label, may be translated.

A page that is deliberately English-only in part says so in Chinese and links to the
English page; ``ENGLISH_ONLY`` lists those pages, with the Chinese words the note must
contain. ``NOT_YET_TRANSLATED`` lists the English pages that may still lack a twin.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.append(str(DOCS / "hooks"))  # appended: never shadows an installed module
import mdblocks  # noqa: E402

#: Block languages that only the English page has (the API reference's docstrings).
ENGLISH_ONLY_BLOCKS = {"api"}
#: English page -> (why it is English-only, words its Chinese page must say)
ENGLISH_ONLY = {
    "api.md": ("the reference is generated from the docstrings, which are in English",
               ["文档字符串", "只有英文", "../../api/"]),
}
#: English pages whose Chinese twin another change adds (the Chinese site falls back).
NOT_YET_TRANSLATED = {"performance.md"}


def english_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if not p.name.endswith(".zh.md") and "hooks" not in p.parts)


def pairs() -> list[tuple[Path, Path]]:
    return [(en, en.with_name(en.name[:-3] + ".zh.md")) for en in english_pages()
            if en.with_name(en.name[:-3] + ".zh.md").exists()]


def _rel(p: Path) -> str:
    return p.relative_to(DOCS).as_posix()


def signature(block: mdblocks.Block) -> tuple:
    """What must match between the two languages: language, content, namespace, other attributes."""
    attrs = {k: v for k, v in block.attrs.items() if k not in ("caption", "title")}
    return (block.language, mdblocks.namespace_of(block), block.tab, tuple(sorted(attrs.items())), block.source)


def test_every_page_has_a_chinese_twin():
    missing = [_rel(en) for en in english_pages()
               if not en.with_name(en.name[:-3] + ".zh.md").exists() and _rel(en) not in NOT_YET_TRANSLATED]
    assert not missing, f"English pages without a .zh.md twin: {missing}"


def test_there_are_pairs_to_compare():
    assert len(pairs()) >= 9, [_rel(en) for en, _ in pairs()]


@pytest.mark.parametrize("en,zh", pairs(), ids=[_rel(en) for en, _ in pairs()])
def test_code_blocks_are_identical(en, zh):
    en_all = list(mdblocks.iter_blocks(en.read_text(encoding="utf-8")))
    en_blocks = [b for b in en_all if b.language not in ENGLISH_ONLY_BLOCKS]
    zh_blocks = list(mdblocks.iter_blocks(zh.read_text(encoding="utf-8")))
    if len(en_blocks) < len(en_all):  # part of the page is English-only: it must say so
        assert _rel(en) in ENGLISH_ONLY, f"{_rel(en)} has English-only blocks but is not in ENGLISH_ONLY"
    problems = []
    for i, (a, b) in enumerate(zip(en_blocks, zh_blocks)):
        if signature(a) != signature(b):
            problems.append(f"block {i + 1}: {_rel(en)}:{a.line} ({a.language}, tab {a.tab}) "
                            f"!= {_rel(zh)}:{b.line} ({b.language}, tab {b.tab})")
    if len(en_blocks) != len(zh_blocks):
        problems.append(f"{_rel(en)} has {len(en_blocks)} blocks, {_rel(zh)} has {len(zh_blocks)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", sorted(ENGLISH_ONLY))
def test_english_only_pages_say_so_in_chinese(page):
    zh = DOCS / (page[:-3] + ".zh.md")
    assert zh.exists(), f"{page} is English-only in part, and its Chinese page must say so"
    text = zh.read_text(encoding="utf-8")
    missing = [w for w in ENGLISH_ONLY[page][1] if w not in text]
    assert not missing, f"{_rel(zh)} must say that {ENGLISH_ONLY[page][0]}; missing {missing}"


def test_signature_notices_a_changed_byte():
    """The comparison is not vacuous: one changed character, tab or namespace is caught."""
    page = '=== "PyTorch"\n\n    ```pycon\n    >>> 1 + 1\n    2\n    ```\n'
    original = signature(next(iter(mdblocks.iter_blocks(page))))
    for changed in (page.replace("1 + 1", "1 +  1"), page.replace('"PyTorch"', '"twicegrad"'),
                    page.replace("pycon", "python")):
        assert signature(next(iter(mdblocks.iter_blocks(changed)))) != original
    translated_caption = '```graph id="g" caption="计算图"\nx\n```\n'
    assert (signature(next(iter(mdblocks.iter_blocks(translated_caption))))
            == signature(next(iter(mdblocks.iter_blocks(translated_caption.replace("计算图", "graph"))))))
