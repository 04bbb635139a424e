"""Silent machines (pure): no reading for max(4 h, 3 x the machine's median interval over 7 days).

This rule runs on a clock (``manage.py alerts_clock``), not on messages: silence is the absence of
a message. Its alert starts at the machine's newest reading (so the clock running twice finds the
same alert id), is resolved by the next reading (the consumer), and is not repeated within 24 h of
the previous silent alert of the machine.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from statistics import median

from equipment_alerts.business import DAY_MS, HOUR_MS, SILENT, Finding, RuleConfig

HISTORY_MS = 7 * DAY_MS
SILENCE_FACTOR = 3
NO_REPEAT_MS = DAY_MS
# Timestamps kept per machine for the median: a 1-minute reporter's 7 days are 10,080 of them; the
# most recent ones are enough for a median and keep the machine's document small.
MAX_TIMESTAMPS = 4000


def kept_timestamps(timestamps: Sequence[int], new: Sequence[int]) -> list[int]:
    """The distinct timestamps of the 7 days up to the newest, at most MAX_TIMESTAMPS, sorted."""
    merged = sorted(set(timestamps) | set(new))
    if not merged:
        return []
    horizon = merged[-1] - HISTORY_MS
    return [ts for ts in merged if ts >= horizon][-MAX_TIMESTAMPS:]


def silence_limit_ms(timestamps: Sequence[int], floor_hours: float = 4.0) -> int:
    """max(floor, 3 x the median interval between consecutive timestamps)."""
    floor = int(floor_hours * HOUR_MS)
    intervals = [b - a for a, b in itertools.pairwise(timestamps) if b > a]
    if not intervals:
        return floor
    return max(floor, int(SILENCE_FACTOR * median(intervals)))


def silent_finding(
    rule: RuleConfig,
    newest_ms: int,
    timestamps: Sequence[int],
    now_ms: int,
    previous_silent_opened_ms: int | None,
) -> Finding | None:
    """A silent finding when the machine has been quiet past its limit at ``now_ms`` and its
    previous silent alert (if any) was opened at least 24 h before."""
    limit = silence_limit_ms(timestamps, rule.limit)
    if now_ms - newest_ms < limit:
        return None
    if previous_silent_opened_ms is not None and now_ms - previous_silent_opened_ms < NO_REPEAT_MS:
        return None
    return Finding(rule.key, SILENT, newest_ms, None, round((now_ms - newest_ms) / HOUR_MS, 3))
