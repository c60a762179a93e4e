"""Personal data out of stored conversation text, with spaCy rules (no model download).

``Redactor`` runs ``spacy.blank("en")`` with an ``EntityRuler`` (e-mail addresses) and a
``Matcher`` over runs of digit tokens. Every digit run is classified by its digits:

* 13-19 digits passing the Luhn check: a payment card, ``[CARD]``;
* an order number (``#10000101``, ``order no. 10000101``, ``C536365``; see ``_is_order``): kept
  as a stable keyed hash ``[ORDER:1a2b3c4d5e]`` (HMAC-SHA256 with the settings' key), so
  analytics can still count questions about one order without storing its number;
* 7-15 digits otherwise (``+49 151 1234 5678``, ``(030) 123-4567``): ``[PHONE]``;
* any other run of 13 or more digits: ``[NUMBER]`` (a mistyped card is still a card);
* dates, times, prices and short numbers stay.

E-mail addresses become ``[EMAIL]``. Text longer than ``max_chars`` is cut after redaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analytics.errors import InvalidInputData

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import Matcher
    from spacy.tokens import Doc

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
NUMBER = "[NUMBER]"

#: A token that is a piece of a number as people type them.
_NUMERIC = r"^(?:\+|\+?\(?\d[\d\-./()]*\)?|#\d+|[A-Za-z]\d{5,})$"
_SEPARATOR = r"^[-./()]$"
_EMAIL = r"(?i)^[\w.+'-]+@[\w-]+(?:\.[\w-]+)+$"
_EMAIL_HEAD = r"(?i)^[\w.+'-]+@[\w.-]+$"
_DATE = re.compile(
    r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{1,2}[:.]\d{2})$"
)
_PRICE = re.compile(r"^\d{1,6}[.,]\d{2}$")
_ORDER_WORDS = frozenset({"order", "orders", "invoice", "no", "no.", "nr", "nr.", "number",
                          "#", "ref", "reference", "bestellung", "order#", "parcel"})
#: Order numbers of this shop (``10004217``) and imported invoices (``536365``, ``C536365``).
_ORDER_SHAPE = re.compile(r"^#?(?:[Cc]?\d{6}|1\d{7})$")
_HASH_HEX_CHARS = 10
#: Text kept before redaction: more than any message a person types.
_PRE_CUT = 20_000


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` passes the Luhn checksum (every payment card number does)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class Redacted:
    text: str
    emails: int = 0
    phones: int = 0
    cards: int = 0
    orders: int = 0
    numbers: int = 0


class Redactor:
    """Redacts texts; build once (loading spaCy's tokenizer) and reuse."""

    def __init__(self, key: str | bytes, *, max_chars: int = 2000) -> None:
        if not key:
            raise InvalidInputData("the redaction key is empty: set ANALYTICS_REDACTION_KEY")
        if max_chars < 1:
            raise InvalidInputData("max_chars must be positive")
        self._key = key.encode() if isinstance(key, str) else key
        self.max_chars = max_chars
        self._nlp, self._matcher = _build_pipeline()

    def order_token(self, number: str) -> str:
        """The stable placeholder of an order number (same number, same key: same token)."""
        normalised = number.lstrip("#").upper()
        digest = hmac.new(self._key, normalised.encode(), hashlib.sha256).hexdigest()
        return f"[ORDER:{digest[:_HASH_HEX_CHARS]}]"

    def redact(self, text: str | None) -> str:
        return self.redact_detailed(text).text

    def redact_many(self, texts: Iterable[str | None]) -> Iterator[str]:
        cleaned = (_clean(t) for t in texts)
        for doc in self._nlp.pipe(cleaned, batch_size=64):
            yield self._apply(doc).text

    def redact_detailed(self, text: str | None) -> Redacted:
        return self._apply(self._nlp(_clean(text)))

    def _apply(self, doc: Doc) -> Redacted:
        replacements: list[tuple[int, int, str]] = []
        counts = {"emails": 0, "phones": 0, "cards": 0, "orders": 0, "numbers": 0}
        for ent in doc.ents:
            if ent.label_ == "EMAIL":
                replacements.append((ent.start_char, ent.end_char, EMAIL))
                counts["emails"] += 1
        taken = {i for ent in doc.ents for i in range(ent.start, ent.end)}
        for start, end in _numeric_runs(doc, self._matcher):
            if any(i in taken for i in range(start, end)):
                continue
            for s, e in _split_order_lists(doc, start, end):
                label = self._classify(doc, s, e)
                if label is None:
                    continue
                placeholder, kind = label
                if kind == "phones" and s > 0 and doc[s - 1].text == "(" and ")" in doc[s:e].text:
                    s -= 1  # "(030) 123-4567": the opening bracket belongs to the number
                replacements.append((doc[s].idx, doc[e - 1].idx + len(doc[e - 1].text),
                                     placeholder))
                counts[kind] += 1
        out = doc.text
        for start_char, end_char, value in sorted(replacements, reverse=True):
            out = out[:start_char] + value + out[end_char:]
        return Redacted(text=out[: self.max_chars], **counts)

    def _classify(self, doc: Doc, start: int, end: int) -> tuple[str, str] | None:
        span_text = doc[start:end].text
        digits = re.sub(r"\D", "", span_text)
        single = end - start == 1
        if _DATE.match(span_text) or _PRICE.match(span_text):
            return None
        international = span_text.startswith(("+", "(", "00"))
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and not international:
            return CARD, "cards"
        if single and _ORDER_SHAPE.match(span_text) and (
            span_text.startswith("#") or _after_order_word(doc, start)
            or re.fullmatch(r"1\d{7}", span_text)
        ):
            return self.order_token(span_text), "orders"
        if single and re.fullmatch(r"[A-Za-z]\d{5,}", span_text):
            return (self.order_token(span_text), "orders") if _after_order_word(doc, start) \
                else None
        if 7 <= len(digits) <= 15:
            return PHONE, "phones"
        if len(digits) > 15:
            return NUMBER, "numbers"
        return None


def _split_order_lists(doc: Doc, start: int, end: int) -> list[tuple[int, int]]:
    """``10000101 10000102`` are two order numbers, not one long number."""
    pieces = [i for i in range(start, end) if not re.fullmatch(_SEPARATOR, doc[i].text)]
    if len(pieces) > 1 and all(re.fullmatch(r"#?1\d{7}", doc[i].text) for i in pieces):
        return [(i, i + 1) for i in pieces]
    return [(start, end)]


def _after_order_word(doc: Doc, start: int) -> bool:
    window = doc[max(0, start - 3):start]
    return any(t.lower_ in _ORDER_WORDS for t in window)


def _clean(text: str | None) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidInputData(f"text to redact must be a string, not {type(text).__name__}")
    return text[:_PRE_CUT].replace("\x00", "")


def _numeric_runs(doc: Doc, matcher: Matcher) -> list[tuple[int, int]]:
    """Maximal runs of number pieces (separators allowed between them), token offsets."""
    runs = matcher(doc, as_spans=False)
    spans = sorted(((s, e) for _, s, e in runs), key=lambda se: (se[0], -(se[1] - se[0])))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s < merged[-1][1]:
            continue
        # A run must start and end with a digit piece, not with a separator.
        while e > s and re.fullmatch(_SEPARATOR, doc[e - 1].text):
            e -= 1
        if e > s:
            merged.append((s, e))
    return merged


def _build_pipeline() -> tuple[Language, Matcher]:
    import spacy
    from spacy.matcher import Matcher

    nlp = spacy.blank("en")
    # Split at markup and sentence marks inside a token too ("10000101?</b>"), so a number
    # glued to them is still a token of its own.
    infixes = [*nlp.Defaults.infixes, r"[?!<>\"]"]
    nlp.tokenizer.infix_finditer = spacy.util.compile_infix_regex(infixes).finditer
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([
        {"label": "EMAIL", "pattern": [{"LIKE_EMAIL": True}]},
        {"label": "EMAIL", "pattern": [{"TEXT": {"REGEX": _EMAIL}}]},
        # The tokenizer splits "ALEX@Example.ORG" at the dot before upper-case letters.
        *({"label": "EMAIL", "pattern": [{"TEXT": {"REGEX": _EMAIL_HEAD}}]
           + [{"ORTH": "."}, {"TEXT": {"REGEX": r"^[A-Za-z0-9-]+$"}}] * parts}
          for parts in (3, 2, 1)),
    ])
    matcher = Matcher(nlp.vocab)
    piece = {"TEXT": {"REGEX": _NUMERIC}}
    matcher.add("NUMERIC_RUN", [[piece, {"TEXT": {"REGEX": f"{_NUMERIC}|{_SEPARATOR}"},
                                         "OP": "*"}]], greedy="LONGEST")
    return nlp, matcher
