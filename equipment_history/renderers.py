"""GeoJSON and CSV renderings of a page of positions (the JSON body the views build).

Both take the view's page body — ``{"results": [position, ...], ...}`` — so the views serialize
once and DRF's content negotiation (``?format=geojson|csv`` or the Accept header) picks the shape.

Both are well-formed for any stored value (docs/RELIABILITY.md, "Bad input"): GeoJSON is JSON
written by ``telemetry_site.renderers.JSONRenderer`` (lone surrogates replaced, NaN as null), and a
position without finite coordinates is a Feature with a null geometry (RFC 7946 §3.2), left out of
the track. CSV quotes per RFC 4180 (commas, quotes, line breaks), and replaces what RFC 4180 text
cannot hold and strict parsers refuse: lone surrogates and control characters (C0 but tab, carriage
return and line feed; DEL; C1) become U+FFFD; a non-finite number is an empty cell.
"""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Any

from rest_framework.renderers import BaseRenderer

from telemetry_site.renderers import REPLACEMENT_CHARACTER, JSONRenderer, encodable_text

# Page-level members carried beside the features (RFC 7946 §6.1 allows such "foreign members").
PAGE_MEMBERS = ("identifier", "from", "to", "archive", "archive_detail", "next")
CSV_COLUMNS = ("identifier", "timestamp", "latitude", "longitude", "address", "points_of_interest", "base")


def coordinates(position: dict[str, Any]) -> list[float] | None:
    """``[longitude, latitude]``, or None when either is missing or not a finite number."""
    pair = [position.get("longitude"), position.get("latitude")]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pair):
        return pair
    return None


def feature_collection(page: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection: the track as a LineString (when it has two points or more, as RFC 7946
    requires), then one Point per position with its attributes as properties."""
    positions = page.get("results", [])
    features = []
    located = [(p, point) for p in positions if (point := coordinates(p)) is not None]
    if len(located) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [point for _, point in located]},
                "properties": {
                    "kind": "track",
                    "identifier": page.get("identifier"),
                    "from": located[0][0].get("timestamp"),
                    "to": located[-1][0].get("timestamp"),
                },
            }
        )
    for p in positions:
        point = coordinates(p)
        properties = {key: value for key, value in p.items() if key not in ("latitude", "longitude")}
        features.append(
            {
                "type": "Feature",
                "geometry": None if point is None else {"type": "Point", "coordinates": point},
                "properties": {"kind": "position", **properties},
            }
        )
    members = {key: page[key] for key in PAGE_MEMBERS if key in page}
    return {"type": "FeatureCollection", **members, "features": features}


class GeoJSONRenderer(JSONRenderer):
    media_type = "application/geo+json"
    format = "geojson"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if isinstance(data, dict) and "results" in data:
            data = feature_collection(data)
        return super().render(data, accepted_media_type, renderer_context)


# C0 controls but tab, CR and LF, DEL, and the C1 controls (NEL, U+0085, ends a line for some
# readers even inside quotes): outside RFC 4180's TEXTDATA, refused by strict parsers.
CSV_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def csv_cell(value: Any) -> str:
    """One cell: empty for None and non-finite numbers; text with what CSV cannot hold replaced."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return CSV_UNSAFE.sub(REPLACEMENT_CHARACTER, encodable_text(str(value)))


class CSVRenderer(BaseRenderer):
    """A header row, then one row per position; points of interest are joined with ``;``."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for position in (data or {}).get("results", []):
            pois = ";".join(str(name) for name in position.get("points_of_interest") or [])
            row = dict(position, points_of_interest=pois)
            writer.writerow([csv_cell(row.get(column)) for column in CSV_COLUMNS])
        return out.getvalue().encode(self.charset)
