"""Settings of the property tests (hypothesis), one place for the suite and for mutation runs."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import Phase, settings


def property_settings(max_examples: int, **options: Any) -> settings:
    """``max_examples`` examples, or under mutmut a tenth of them, always the same, and no shrinking.

    mutmut sets ``MUTANT_UNDER_TEST`` before it imports the tests. One failing example is enough
    to kill a mutant, and shrinking it can take longer than the whole test: without this, the
    property tests were most of the full mutation run's time. The examples are derandomized (drawn
    from a seed of the test's name) so that a mutant is killed or survives in every run alike: with
    random draws, one rentals mutant survived CI's gate that every run here had killed.
    """
    if os.environ.get("MUTANT_UNDER_TEST"):
        phases = (Phase.explicit, Phase.reuse, Phase.generate)
        return settings(
            max_examples=max(10, max_examples // 10), phases=phases, database=None, derandomize=True, **options
        )
    return settings(max_examples=max_examples, **options)
