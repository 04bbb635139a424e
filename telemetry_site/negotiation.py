"""Content negotiation of every view (``REST_FRAMEWORK["DEFAULT_CONTENT_NEGOTIATION_CLASS"]``).

Its own module: DRF's ``APIView`` reads the setting when ``rest_framework.views`` is imported, so the
class must not live in a module that imports ``rest_framework.views`` itself.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's, except that a ``?format=`` no renderer of the view has (an empty one included) is a
    400 naming ``format`` and the formats there are, like every other bad parameter. DRF answers an
    unknown one with a bare 404, and takes an empty one for none."""

    def select_renderer(
        self, request: Any, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        requested = request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if format_suffix is None and requested is not None:
            formats = list(dict.fromkeys(renderer.format for renderer in renderers))
            if requested not in formats:
                raise ValidationError(
                    {
                        self.settings.URL_FORMAT_OVERRIDE: [
                            f"Unknown format {requested[:64]!r}; one of {', '.join(formats)}."
                        ]
                    }
                )
        return super().select_renderer(request, renderers, format_suffix)
