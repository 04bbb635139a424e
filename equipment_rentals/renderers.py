"""Renderers of the export views: the view builds the file, the renderer passes its bytes on.

An error answer (a dict: a 400 naming the parameter) is rendered as JSON whatever the format.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.renderers import BaseRenderer


class FileRenderer(BaseRenderer):
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if isinstance(data, bytes):
            return data
        return json.dumps(data).encode()


class CSVFileRenderer(FileRenderer):
    media_type = "text/csv"
    format = "csv"


class XLSXFileRenderer(FileRenderer):
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    format = "xlsx"
