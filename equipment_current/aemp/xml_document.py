"""AEMP documents (the dicts of ``elements``) as XML. Pure: stdlib only.

The mapping is mechanical: a dict is an element whose keys are child elements, in order; a list
repeats its key's element once per item (``"Equipment": [...]`` gives one ``<Equipment>`` each);
a key in ``ATTRIBUTES`` (``version``, ``snapshotTime``, ``datetime``) with a scalar value is an
attribute of its element; None is omitted; booleans are ``true``/``false`` (``xs:boolean``);
numbers are written without an exponent (``xs:decimal``).

Any stored string renders as well-formed XML: ``&``, ``<``, ``>`` and quotes are escaped, a
carriage return is written as ``&#13;`` (a parser would otherwise turn it into a line feed), and a
character XML 1.0 cannot carry at all (NUL and the other C0 controls except tab, line feed and
carriage return; lone surrogates; U+FFFE, U+FFFF) is replaced by U+FFFD (``xml_safe``). The
serializer is written here rather than taken from ElementTree because ElementTree passes those
characters through (a NUL makes the document unreadable, a lone surrogate makes the encoding fail)
and writes a carriage return raw.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

ATTRIBUTES = frozenset({"version", "snapshotTime", "datetime"})
REPLACEMENT = "\ufffd"

# The complement of XML 1.0's Char production (tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000+).
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"}
)


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML_CHAR.sub(REPLACEMENT, text)


def decimal_text(value: float | int) -> str:
    """A number as ``xs:decimal`` text: ``45.46``, ``100.0``, ``0.00001`` (never ``1e-05``)."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return decimal_text(value)
    return xml_safe(str(value))


def _element(name: str, value: Any, out: list[str], namespace: str | None = None) -> None:
    attributes = f' xmlns="{namespace}"' if namespace else ""
    children: list[str] = []
    if isinstance(value, dict):
        for key, child in value.items():
            if child is None:
                continue
            if key in ATTRIBUTES and not isinstance(child, (dict, list, tuple)):
                attributes += f' {key}="{_text(child).translate(_ATTRIBUTE_ESCAPES)}"'
            elif isinstance(child, (list, tuple)):
                for item in child:
                    if item is not None:
                        _element(str(key), item, children)
            else:
                _element(str(key), child, children)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _element("item", item, children)
    else:
        children.append(_text(value).translate(_TEXT_ESCAPES))
    out.append(f"<{name}{attributes}>{''.join(children)}</{name}>")


def to_xml(root: str, data: Any, namespace: str | None = None) -> bytes:
    """``data`` as an XML document with root element ``root``, UTF-8, with an XML declaration."""
    out = ["<?xml version='1.0' encoding='utf-8'?>\n"]
    _element(root, data, out, namespace)
    return "".join(out).encode("utf-8")
