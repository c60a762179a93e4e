"""Query normalisation: whatever a customer types becomes bounded, clean text (or nothing)."""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<\s*/?\s*[A-Za-z][^<>]{0,500}>")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]")
_SPACE = re.compile(r"\s+")


def normalise_query(text: object, *, max_chars: int) -> str:
    """Return the query as one clean line of at most ``max_chars`` characters.

    Unicode is NFKC-normalised, control and zero-width characters, HTML/XML tags and entities
    are removed, whitespace collapses, and a long text is cut at the last word boundary before
    ``max_chars`` (the model reads at most 256 word pieces anyway). The result is ``""`` when
    nothing searchable (no letter or digit) is left, e.g. for emoji-only or empty input.
    """
    if not isinstance(text, str):
        return ""
    # Cut early (with room for markup that will be removed) so 100 kB inputs stay cheap.
    text = text[: max_chars * 4]
    text = unicodedata.normalize("NFKC", text)
    text = html.unescape(_TAG.sub(" ", text))
    text = _INVISIBLE.sub("", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars + 1)
        text = text[: cut if cut > max_chars // 2 else max_chars].rstrip()
    if not any(ch.isalnum() for ch in text):
        return ""
    return text
