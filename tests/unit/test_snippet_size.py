"""
The storefront snippet and its capture widgets as shipped: each within its size budget,
hand-written ES2017 (none of the later syntax a hand editor might slip in), plain ASCII (any
page encoding reads it), quiet, and packaged where the static route reads it.
"""

from __future__ import annotations

import gzip
import random
import re

import pytest

from cartback.web import static_file

BUDGET_BYTES = 10 * 1024
#: The widgets load only on shops that switch one on, after the page's own work.
CAPTURE_BUDGET_BYTES = 12 * 1024
SHIPPED = {"cartback.js": BUDGET_BYTES, "cartback-capture.js": CAPTURE_BUDGET_BYTES}

#: Syntax newer than ES2017, as it would appear in our source: object spread/rest and rest
#: parameters share `...` (ES2015 rest parameters are avoided too, to keep one simple rule),
#: optional chaining `?.`, nullish `??`, optional catch binding, and exponent `**`.
LATER_SYNTAX = {
    "spread or rest (...)": r"\.\.\.",
    "optional chaining (?.)": r"\?\.(?!\d)",
    "nullish coalescing (??)": r"\?\?",
    "optional catch binding": r"catch\s*\{",
    "exponent operator (**)": r"\*\*",
}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def source(request: pytest.FixtureRequest) -> str:
    """
    Each script as the package ships it: the snippet and the capture widgets.
    """
    name: str = request.param
    return static_file(name).decode("utf-8")


def test_the_snippet_is_at_most_10_kb_gzipped() -> None:
    """
    Gzipped at the level the static route uses, the snippet stays within 10 KB.
    """
    # given
    raw = static_file("cartback.js")
    # when
    size = len(gzip.compress(raw, 9))
    # then
    assert size <= BUDGET_BYTES, f"{size} bytes gzipped"


def test_the_capture_widgets_are_at_most_12_kb_gzipped() -> None:
    """
    The widgets, loaded lazily by the snippet, stay within 12 KB gzipped.
    """
    # given
    raw = static_file("cartback-capture.js")
    # when
    size = len(gzip.compress(raw, 9))
    # then
    assert size <= CAPTURE_BUDGET_BYTES, f"{size} bytes gzipped"


def test_the_scripts_are_plain_ascii(source: str) -> None:
    """
    Non-ASCII words are written as escapes, so a page in any encoding reads them right.
    """
    # given
    lines = source.splitlines()
    # when
    found = [n for n, line in enumerate(lines, 1) if not line.isascii()]
    # then
    assert [] == found


def test_the_size_check_would_notice_a_larger_file(source: str) -> None:
    """
    Incompressible padding pushes the same measurement past the budget, so the check can fail.
    """
    # given
    padding = random.Random(7).randbytes(16 * 1024)  # noise gzip cannot shrink
    # when
    size = len(gzip.compress(source.encode() + padding, 9))
    # then
    assert size > CAPTURE_BUDGET_BYTES >= BUDGET_BYTES


@pytest.mark.parametrize("name", sorted(LATER_SYNTAX))
def test_the_snippet_uses_no_syntax_newer_than_es2017(source: str, name: str) -> None:
    """
    None of the constructs added after ES2017 appear in the source.
    """
    # given
    pattern = re.compile(LATER_SYNTAX[name])
    # when
    found = [n for n, line in enumerate(source.splitlines(), 1) if pattern.search(line)]
    # then
    assert [] == found


def test_the_syntax_patterns_recognise_what_they_forbid() -> None:
    """
    Each pattern matches a sample of the construct it forbids, so the check above can fail.
    """
    # given
    samples = {
        "spread or rest (...)": "var b = {...a};",
        "optional chaining (?.)": "var c = a?.b;",
        "nullish coalescing (??)": "var c = a ?? b;",
        "optional catch binding": "try { f(); } catch {}",
        "exponent operator (**)": "var c = 2 ** 8;",
    }
    # when
    missed = [n for n, sample in samples.items() if not re.search(LATER_SYNTAX[n], sample)]
    # then
    assert [] == missed


def test_the_snippet_never_writes_to_the_console(source: str) -> None:
    """
    No `console.` call and no `debugger` statement: a shop's console stays its own.
    """
    # given
    noisy = re.compile(r"\bconsole\s*\.|\bdebugger\b|\balert\s*\(")
    # when
    found = [n for n, line in enumerate(source.splitlines(), 1) if noisy.search(line)]
    # then
    assert [] == found


def test_the_snippet_is_one_self_contained_script(source: str) -> None:
    """
    No import, require or eval: it works as one plain `<script>` with no dependencies.
    """
    # given
    loaders = re.compile(r"^\s*import\b|\brequire\s*\(|\beval\s*\(|\bnew Function\b", re.M)
    # when
    found = loaders.findall(source)
    # then
    assert [] == found
