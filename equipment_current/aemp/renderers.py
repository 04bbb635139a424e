"""The XML rendering of the AEMP API (``Accept: application/xml`` or ``?format=xml``)."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import BaseRenderer

from equipment_current.aemp.elements import NAMESPACE
from equipment_current.aemp.xml_document import to_xml


class AempXMLRenderer(BaseRenderer):
    """A document as XML under the view's ``xml_root`` (``Fleet``, ``LocationMessages``…)
    in the standard's namespace; an error as ``<Error>`` with the same members as its JSON body
    (``<detail>``, or one element per offending parameter)."""

    media_type = "application/xml"
    format = "xml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None:
            return b""
        context = renderer_context or {}
        response = context.get("response")
        if response is not None and response.status_code >= 400:
            return to_xml("Error", data)
        root = getattr(context.get("view"), "xml_root", "Document")
        return to_xml(root, data, NAMESPACE)
