"""Renderers that write a well-formed document whatever is stored.

Validation refuses at the door what no renderer should have to carry (stream/validation.py:
NUL, control characters and lone surrogates in identifiers and names, non-finite numbers). A
document stored before those rules, or by another writer, may still hold them, so the renderers
make the same promise on their own (docs/RELIABILITY.md, "Bad input"):

- a lone UTF-16 surrogate has no UTF-8 encoding: it becomes U+FFFD (the replacement character);
- NaN and ±infinity are no JSON numbers: they become ``null``;
- JSON escapes every other character itself (``\\u0000``, quotes, newlines), losslessly.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rest_framework import renderers

# Every code point of the surrogate range: in a Python str these are always lone (a pair would
# have been decoded into one astral code point).
SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT_CHARACTER = "\ufffd"


def encodable_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so that it encodes as UTF-8."""
    return SURROGATES.sub(REPLACEMENT_CHARACTER, text)


def well_formed(value: Any) -> Any:
    """``value`` (nested dicts, lists and scalars) with lone surrogates replaced and non-finite
    floats as None: what JSON can carry."""
    if isinstance(value, str):
        return encodable_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {well_formed(key): well_formed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [well_formed(item) for item in value]
    return value


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, well-formed for any stored value (the module's docstring says how).

    The common case costs nothing extra: only a body that DRF's renderer cannot write (a
    ``ValueError`` for NaN, a ``UnicodeEncodeError`` for a surrogate) is cleaned and written again.
    """

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except ValueError:  # UnicodeEncodeError is one too
            return super().render(well_formed(data), accepted_media_type, renderer_context)
