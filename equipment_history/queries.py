"""Reads of the position history that span both stores: the hot repository and the archive.

No framework here either: the repository and the archive client come in as arguments, so the
view stays a thin adapter and the rules stay in ``business``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from equipment_history.archive import ArchiveUnavailable
from equipment_history.business import (
    ArchiveStatus,
    Position,
    archive_range,
    merge_positions,
    page_of,
    retention_boundary,
)

KEEP_FOREVER = 0  # ``retention_days`` of a store that never expires positions (repository.KEEP_FOREVER)


class HotPositions(Protocol):
    """What this read needs of ``PositionRepository``."""

    retention_days: int

    def between(self, identifier: str, start: int, end: int, limit: int) -> list[Position]: ...


class ArchivedPositions(Protocol):
    """What this read needs of an archive client such as ``HttpArchiveClient``."""

    @property
    def configured(self) -> bool: ...

    def positions(self, identifier: str, start: int, end: int, limit: int) -> list[Position]:
        """Raise ``ArchiveUnavailable`` when no usable answer comes."""


@dataclass(frozen=True)
class PositionPage:
    """One page of a machine's positions, oldest first, and what the archive contributed."""

    positions: list[Position]
    next_after: int | None  # keyset cursor of the next page: its positions come strictly after it
    archive: ArchiveStatus
    archive_detail: str | None = None


def position_page(
    repository: HotPositions,
    archive: ArchivedPositions,
    identifier: str,
    start: int,
    end: int,
    *,
    after: int | None,
    limit: int,
    now_ms: int,
    overlap_ms: int,
) -> PositionPage:
    """The positions of ``identifier`` in ``[start, end)`` after the cursor ``after``, at most ``limit``.

    Both stores are asked for ``limit + 1`` positions after the cursor: the first ``limit`` of
    their sorted union is then exactly the page, and the extra one says whether another follows.
    """
    low = start if after is None else max(start, after + 1)
    hot = repository.between(identifier, low, end, limit + 1)
    window = None
    if repository.retention_days != KEEP_FOREVER:  # kept forever: the hot store holds every range
        window = archive_range(start, end, after, retention_boundary(now_ms, repository.retention_days), overlap_ms)
    archived: list[Position] = []
    detail = None
    if window is None:
        status = ArchiveStatus.NOT_NEEDED
    elif not archive.configured:
        status = ArchiveStatus.NOT_CONFIGURED
        detail = "The range reaches past the retention window, but no archive is configured."
    else:
        try:
            archived = archive.positions(identifier, *window, limit=limit + 1)
            status = ArchiveStatus.MERGED
        except ArchiveUnavailable as exc:
            status, detail = ArchiveStatus.UNAVAILABLE, str(exc)
    page, next_after = page_of(merge_positions(hot, archived), limit)
    return PositionPage(page, next_after, status, detail)
