"""GeoJSON and CSV renderings of a page of positions (the JSON body the views build).

Both take the view's page body — ``{"results": [position, ...], ...}`` — so the views serialize
once and DRF's content negotiation (``?format=geojson|csv`` or the Accept header) picks the shape.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer

# Page-level members carried beside the features (RFC 7946 §6.1 allows such "foreign members").
PAGE_MEMBERS = ("identifier", "from", "to", "archive", "archive_detail", "next")
CSV_COLUMNS = ("identifier", "timestamp", "latitude", "longitude", "address", "points_of_interest", "base")


def feature_collection(page: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection: the track as a LineString (when it has two points or more, as RFC 7946
    requires), then one Point per position with its attributes as properties."""
    positions = page.get("results", [])
    features = []
    if len(positions) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[p["longitude"], p["latitude"]] for p in positions]},
                "properties": {
                    "kind": "track",
                    "identifier": page.get("identifier"),
                    "from": positions[0]["timestamp"],
                    "to": positions[-1]["timestamp"],
                },
            }
        )
    for p in positions:
        properties = {key: value for key, value in p.items() if key not in ("latitude", "longitude")}
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p["longitude"], p["latitude"]]},
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
            row = dict(position, points_of_interest=";".join(position.get("points_of_interest") or []))
            writer.writerow(["" if row.get(column) is None else row[column] for column in CSV_COLUMNS])
        return out.getvalue().encode(self.charset)
