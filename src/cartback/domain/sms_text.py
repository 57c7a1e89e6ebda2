"""
Text messages as carriers count them, and fitting one to a segment budget.

A text goes as GSM-7 (the GSM 03.38 alphabet: 160 septets in one segment, 153 per segment when
split, an extension character such as `€` taking two) or, when any character is outside that
alphabet, as UCS-2 (70 UTF-16 code units in one segment, 67 when split; an emoji takes two).
A split message never breaks an escape sequence or a surrogate pair across two segments, so
segments are packed character by character rather than divided.

`fit` shortens a text made of parts to a budget of segments: optional parts are dropped in
their order, then the free wording is cut with an ellipsis; the parts that must be there (the
link, the store's name, the opt-out notice) never go. Typographic punctuation is replaced by
ASCII when that alone keeps a text in GSM-7; letters are never touched.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum


class Encoding(StrEnum):
    """
    How a text is sent.
    """

    GSM_7 = "GSM-7"
    UCS_2 = "UCS-2"


#: The GSM 03.38 basic character set.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: Extension characters: each takes two septets (an escape and the character).
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
#: Segment sizes: (one segment alone, each segment of a split message).
_SIZES = {Encoding.GSM_7: (160, 153), Encoding.UCS_2: (70, 67)}
#: Typographic punctuation and spaces, and their ASCII stand-ins (never letters).
_ASCII_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2012": "-",
        "\u2212": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u200b": "",
    }
)
ELLIPSIS_GSM = "..."
ELLIPSIS_UCS = "\u2026"


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmentCount:
    """
    A text's encoding, its length in the encoding's units (septets or UTF-16 code units) and
    the segments it is sent as.
    """

    encoding: Encoding
    units: int
    segments: int


def encoding_of(text: str) -> Encoding:
    """
    GSM-7 when every character is in the GSM alphabet (or its extension), else UCS-2.
    """
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        return Encoding.GSM_7
    return Encoding.UCS_2


def count_segments(text: str) -> SegmentCount:
    """
    How a text is sent: its encoding, units and segments (an empty text is one segment).
    """
    encoding = encoding_of(text)
    widths = [_width(c, encoding) for c in text]
    single, split = _SIZES[encoding]
    units = sum(widths)
    if units <= single:
        return SegmentCount(encoding=encoding, units=units, segments=1)
    return SegmentCount(encoding=encoding, units=units, segments=_packed(widths, split))


def segments(text: str) -> int:
    """
    The segments a text is sent as.
    """
    return count_segments(text).segments


def _width(character: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM_7:
        return 2 if character in GSM_EXTENDED else 1
    return 2 if ord(character) > 0xFFFF else 1


def _packed(widths: Sequence[int], size: int) -> int:
    """
    Segments of `size` units filled in order; a character never straddles two segments.
    """
    count, used = 1, 0
    for width in widths:
        if used + width > size:
            count, used = count + 1, 0
        used += width
    return count


def gsm_friendly(text: str) -> str:
    """
    The text with typographic quotes, dashes, ellipses and spaces in ASCII when that makes it
    GSM-7; else the text unchanged (it goes as UCS-2 anyway, and letters are never replaced).
    """
    if encoding_of(text) is Encoding.GSM_7:
        return text
    plain = text.translate(_ASCII_PUNCTUATION)
    return plain if encoding_of(plain) is Encoding.GSM_7 else text


@dataclass(frozen=True, kw_only=True, slots=True)
class Part:
    """
    A piece of a text. `drop` ranks optional parts (the lowest goes first when the text is too
    long); None marks a part that always stays (the store's name, the link, the opt-out
    notice). The one `truncatable` part is the free wording, cut with an ellipsis as a last
    resort. `glue` is what joins it to the part before.
    """

    text: str
    drop: int | None = None
    truncatable: bool = False
    glue: str = " "


def join(parts: Sequence[Part]) -> str:
    """
    The parts as one text, empty ones left out.
    """
    shown = [part for part in parts if part.text]
    if not shown:
        return ""
    return shown[0].text + "".join(part.glue + part.text for part in shown[1:])


def fit(parts: Sequence[Part], *, budget: int) -> str:
    """
    The text of `parts` in at most `budget` segments: optional parts dropped by rank, then the
    wording cut at a word with an ellipsis, then (when the parts that must stay are longer than
    the budget on their own) those alone, the shortest form.

    Raises:
        ValueError: a budget under one segment.
    """
    if budget < 1:
        raise ValueError("a segment budget is at least one segment")
    kept = list(parts)
    while True:
        text = _friendly(kept)
        if segments(text) <= budget:
            return text
        ranked = [part for part in kept if part.drop is not None and part.text]
        if not ranked:
            break
        lowest = min(ranked, key=lambda part: part.drop or 0)
        kept.remove(lowest)
    return _truncated(kept, budget)


def _friendly(parts: Sequence[Part]) -> str:
    return gsm_friendly(join(parts))


def _truncated(parts: list[Part], budget: int) -> str:
    """
    The longest cut of the truncatable part that fits; the required parts alone if none does.
    """
    index = next((i for i, part in enumerate(parts) if part.truncatable and part.text), None)
    without = [part for part in parts if not part.truncatable]
    if index is None:
        return _friendly(without)
    wording = parts[index].text
    low, high = 0, len(wording)  # the longest fitting prefix length is in [low, high)
    while low < high:
        middle = (low + high + 1) // 2
        if segments(_with_cut(parts, index, wording, middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    if low == 0:
        return _friendly(without)
    best = _with_cut(parts, index, wording, _word_boundary(wording, low))
    return best if segments(best) <= budget else _with_cut(parts, index, wording, low)


def _with_cut(parts: list[Part], index: int, wording: str, length: int) -> str:
    cut = _clean_end(wording[:length])
    if not cut:
        return _friendly([part for i, part in enumerate(parts) if i != index])
    rest = [part for i, part in enumerate(parts) if i != index]
    ellipsis = (
        ELLIPSIS_GSM
        if encoding_of(gsm_friendly(join(rest) + cut)) is Encoding.GSM_7
        else ELLIPSIS_UCS
    )
    shortened = [*parts[:index], replace(parts[index], text=cut + ellipsis), *parts[index + 1 :]]
    return _friendly(shortened)


def _word_boundary(wording: str, length: int) -> int:
    """
    `length`, moved back to the end of a word when one ends in the last quarter of the cut.
    """
    if length >= len(wording) or wording[length].isspace():
        return length
    space = wording.rfind(" ", 0, length)
    return space if space > length * 3 // 4 else length


def _clean_end(text: str) -> str:
    """
    A cut that ends on a letter: no trailing spaces, punctuation, joiners or combining marks.
    """
    cut = text.rstrip()
    while cut and (
        unicodedata.combining(cut[-1])
        or cut[-1] in "\u200d\ufe0f,;:-"
        or unicodedata.category(cut[-1]) in ("Cf", "Cs")
    ):
        cut = cut[:-1].rstrip()
    return cut
