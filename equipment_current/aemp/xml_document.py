"""AEMP documents (the dicts of ``elements``) as XML, with the stdlib's ElementTree. Pure.

The mapping is mechanical: a dict is an element whose keys are child elements, in order; a list
repeats its key's element once per item (``"Equipment": [...]`` gives one ``<Equipment>`` each);
a key in ``ATTRIBUTES`` (``datetime``) with a scalar value is an attribute of its element; None is
omitted; booleans are ``true``/``false`` (``xs:boolean``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

ATTRIBUTES = frozenset({"datetime"})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if child is None:
                continue
            if key in ATTRIBUTES and not isinstance(child, (dict, list)):
                element.set(key, _text(child))
            elif isinstance(child, (list, tuple)):
                for item in child:
                    if item is not None:
                        _fill(ET.SubElement(element, str(key)), item)
            else:
                _fill(ET.SubElement(element, str(key)), child)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _fill(ET.SubElement(element, "item"), item)
    else:
        element.text = _text(value)


def to_xml(root: str, data: Any, namespace: str | None = None) -> bytes:
    """``data`` as an XML document with root element ``root``, UTF-8, with an XML declaration."""
    element = ET.Element(root)
    if namespace:
        element.set("xmlns", namespace)
    _fill(element, data)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)
