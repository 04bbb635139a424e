"""The usage repository's write operations, built without a database."""

from __future__ import annotations

import math

import pytest
from pymongo import UpdateOne

from equipment_usage.business_ledger import Reference, reference_document
from equipment_usage.repository_documents import replace_if_newer


def upsert_from_document(reference: Reference, or_same: bool = False) -> UpdateOne:
    """The upsert as it was first written: the stage built from ``reference_document``."""
    document = {**reference_document(reference), "pois": list(reference.pois)}
    newer = {"$lte" if or_same else "$lt": [{"$ifNull": ["$timestamp", -math.inf]}, reference.timestamp]}
    stage = {name: {"$cond": [newer, {"$literal": value}, f"${name}"]} for name, value in document.items()}
    return UpdateOne({"_id": reference.identifier}, [{"$set": stage}], upsert=True)


@pytest.mark.parametrize(
    "reference",
    [
        Reference("EX1", 1_764_028_800_000, 1000.5, 1_764_028_800_000, 20_000.25, 1_764_028_700_000, ("A", "B")),
        Reference("EX2", 0, None, None, None, None),
        Reference("EX3", 5, 0.0, 4, None, None, ("depot",)),
    ],
)
@pytest.mark.parametrize("or_same", [False, True])
def test_the_reference_upsert_is_the_stage_built_from_the_stored_document(reference, or_same):
    built = replace_if_newer(reference, or_same=or_same)
    assert built == upsert_from_document(reference, or_same=or_same)
    stage = built._doc[0]["$set"]
    assert list(stage) == ["identifier", "timestamp", "hours", "hours_at", "km", "km_at", "pois"]
    assert type(stage["pois"]["$cond"][1]["$literal"]) is list
