"""Consumer handler of utilisation: telemetry -> samples per machine and local day -> daily rows ->
the utilisation topic. Per batch (docs/UTILISATION.md, "The consumer"), one write per collection:

1. read the traces of the batch's (machine, day)s, and the first and last samples of two days
   either side (two queries; a third reads a neighbour's whole day when its row is recomputed);
2. add the new samples (a sample at an event time already stored is a replay) and save the traces
   that changed (one bulk write);
3. recompute the rows of every day the batch has samples of, and the day before (after) where
   one of them is the day's first (last) sample, since a neighbour's midnight interval runs to it:
   from the traces, whether or not the samples were new (a kill after step 2 left the traces ahead
   of the rows, and the replay repairs that);
4. read the stored rows of those days (one query); each computed row whose figures differ is the
   stored one's next version;
5. write the new versions into the month rollup the API reads (one bulk write), publish them and
   wait for delivery, then store them (one bulk write): a stored row is a published one. The loop
   commits the offsets only after.

A kill anywhere loses nothing: the replay finds the rows still at their old versions and does
steps 3-5 again. A version reaches the topic at least once; a kill after delivery and before step 5
publishes the same version (same key, ``version`` and figures) again, which the topic's readers
treat as one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from equipment_utilisation.business import (
    Sample,
    UtilisationRules,
    days_touched_by,
    merge_samples,
    sample_from_record,
    shifted,
)
from equipment_utilisation.business_calendar import UtilisationConfig
from equipment_utilisation.business_rows import next_version, row_id, rows_for_days, sample_date
from equipment_utilisation.config import utilisation_config, utilisation_rules
from equipment_utilisation.publisher import UtilisationPublisher
from equipment_utilisation.repository import UtilisationRepository
from stream.consumer import Record
from stream.records import field as record_field


@dataclass
class BatchOutcome:
    samples: int = 0
    replayed: int = 0  # samples already stored
    traces_saved: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)  # new row versions stored


class UtilisationHandler:
    def __init__(
        self,
        repository: UtilisationRepository | None = None,
        publisher: UtilisationPublisher | None = None,
        config: UtilisationConfig | None = None,
        rules: UtilisationRules | None = None,
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._config = config
        self._rules = rules

    @property
    def repository(self) -> UtilisationRepository:
        if self._repository is None:
            from telemetry_site.backends import repositories

            self._repository = repositories["utilisation"]
        return self._repository

    @property
    def publisher(self) -> UtilisationPublisher:
        if self._publisher is None:
            self._publisher = UtilisationPublisher()
        return self._publisher

    @property
    def config(self) -> UtilisationConfig:
        if self._config is None:
            self._config = utilisation_config()
        return self._config

    @property
    def rules(self) -> UtilisationRules:
        if self._rules is None:
            self._rules = utilisation_rules()
        return self._rules

    def open_kafka_clients(self) -> None:
        self.publisher.open()

    def handle(self, records: Sequence[Record]) -> None:
        self.process([record.value for record in records])

    def process(self, records: Iterable[dict]) -> BatchOutcome:
        outcome = BatchOutcome()
        new: dict[tuple[str, str], list[Sample]] = {}
        models: dict[str, str] = {}
        for record in records:
            machine, sample = record["identifier"], sample_from_record(record)
            day, _ = sample_date(machine, sample, self.config)
            new.setdefault((machine, day), []).append(sample)
            model = record_field(record, "description", "model")
            if model:
                models[machine] = model
            outcome.samples += 1
        if not new:
            return outcome
        # The batch's days in full; of the two days either side only their first and last samples,
        # unless a row of theirs is recomputed (a neighbour's whole day is read once a day, not
        # once a batch: docs/UTILISATION.md, "Performance").
        batch_days = {row_id(machine, day) for machine, day in new}
        traces = self.repository.load_traces(batch_days)
        neighbours = {row_id(machine, shifted(day, k)) for machine, day in new for k in (-2, -1, 1, 2)}
        traces.update(self.repository.load_traces(neighbours - batch_days, full=False))
        outcome.replayed, changed = self._add_samples(new, traces, models)
        outcome.traces_saved = self.repository.save_traces(changed)
        outcome.rows = self._recompute(new, traces, models)
        self.repository.save_rollup(outcome.rows)
        self.publisher.publish(outcome.rows)
        self.repository.save_rows(outcome.rows)
        return outcome

    def _add_samples(
        self, new: dict[tuple[str, str], list[Sample]], traces: dict[str, dict], models: dict[str, str]
    ) -> tuple[int, list[dict]]:
        replayed, changed = 0, []
        for (machine, day), samples in new.items():
            key = row_id(machine, day)
            stored = traces.get(key) or {"_id": key, "machine": machine, "date": day, "model": None, "samples": []}
            merged, added = merge_samples(stored["samples"], samples)
            replayed += len(samples) - (len(merged) - len(stored["samples"]))
            model = models.get(machine) or stored["model"]
            if added or model != stored["model"]:
                _, zone = sample_date(machine, merged[0], self.config)  # the zone of the day's earliest sample
                traces[key] = {**stored, "samples": merged, "model": model, "zone": zone}
                changed.append(traces[key])
        return replayed, changed

    def _recompute(
        self, new: dict[tuple[str, str], list[Sample]], traces: dict[str, dict], models: dict[str, str]
    ) -> list[dict]:
        days_by_machine: dict[str, set[str]] = {}
        for (machine, day), added in new.items():
            merged = traces[row_id(machine, day)]["samples"]
            days_by_machine.setdefault(machine, set()).update(days_touched_by(day, merged, added))
        partial = [
            row_id(machine, day)
            for machine, days in days_by_machine.items()
            for day in days
            if traces.get(row_id(machine, day), {}).get("partial")
        ]
        if partial:
            traces.update(self.repository.load_traces(partial))
        by_machine: dict[str, dict[str, tuple[str, list[Sample]]]] = {}
        for document in traces.values():
            if document["samples"]:
                by_machine.setdefault(document["machine"], {})[document["date"]] = (
                    document["zone"],
                    document["samples"],
                )
        computed = []
        for machine, days in days_by_machine.items():
            by_date = by_machine.get(machine, {})
            for day in days:
                if day in by_date:
                    model = traces[row_id(machine, day)]["model"] or models.get(machine)
                    computed.extend(rows_for_days(machine, model, by_date, [day], self.config, self.rules))
        stored = self.repository.load_rows(
            row_id(machine, day) for machine, days in days_by_machine.items() for day in days
        )
        versions = []
        for row in computed:
            version = next_version(stored.get(row["_id"]), row)
            if version is not None:
                versions.append(version)
        return sorted(versions, key=lambda row: row["_id"])
