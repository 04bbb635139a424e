"""The benchmark code works: tiny runs give well-formed results. No timing is asserted."""

from __future__ import annotations

import math

import pytest

from benchmarks import decoding, roundtrips
from benchmarks.common import Result, format_table, telemetry_services


def test_decoding_benchmark_measures_the_three_decoders():
    results = decoding.run(messages=50, repeats=1)

    assert [r.reference for r in results] == ["confluent AvroDeserializer", "raw fastavro.schemaless_reader"]
    for result in results:
        assert isinstance(result, Result)
        assert result.value > 0 and result.reference_value > 0
        assert math.isclose(result.effective_ratio, result.value / result.reference_value)
        assert result.passed in (True, False)
    assert "| decoding" in format_table(results)


@pytest.mark.usefixtures("settings")
def test_round_trips_are_counted_per_service_and_do_not_grow_with_the_batch():
    results = roundtrips.run(sizes=(5, 40), machines=20)

    summaries = [r for r in results if r.reference]
    assert len(summaries) == len(telemetry_services()) >= 2
    for summary in summaries:
        assert summary.value == summary.reference_value > 0
        assert summary.passed is True
    per_size = [r for r in results if not r.reference]
    # Every service writes something, and the same calls at 5 and at 40 messages.
    for service in telemetry_services():
        notes = [r.note.split(";")[0] for r in per_size if r.figure.startswith(f"{service}:")]
        assert len(notes) == 2
        assert notes[0] == notes[1]
        assert "consumer_progress.update_one 1" in notes[0]


def test_the_metrics_observer_cost_is_measured_per_batch():
    from benchmarks.pipeline import observer_cost

    result = observer_cost(batch_size=20, partitions=3, batches=5)
    assert result.value > 0 and result.unit == "µs"
    assert "20 msgs over 3 partitions, 5 batches" in result.note


@pytest.mark.usefixtures("settings")
def test_archive_benchmark_measures_files_per_day_and_the_api_on_the_archive():
    from benchmarks import archive

    results = {r.figure: r for r in archive.run(messages=0, machines=3, days=2, requests=20)}

    assert results["files per day after compaction (one per date and Kafka partition)"].value <= archive.PARTITIONS
    assert results["MiB per day (Parquet, zstd)"].value > 0
    assert results["history API p95, range wholly in the archive"].value > 0
    assert "| archive" in format_table(list(results.values()))


def test_the_soak_benchmark_takes_nearest_rank_percentiles_and_days_batches_by_their_newest_event():
    from types import SimpleNamespace

    from benchmarks.soak import DAY_MS, TimedBatches, percentile, summary

    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0 and percentile([3.0, 1.0, 2.0, 4.0], 0.95) == 4.0
    assert percentile(list(range(1, 101)), 0.95) == 95 and math.isnan(percentile([], 0.5))
    assert summary([0.1, 0.2, 0.3]) == "200 / 300 / 300" and summary([]) == "-"

    class Consumer:
        def consume(self, *args, **kwargs):
            return ["message"]

        def commit(self, *args, **kwargs):
            return "committed"

    handled = []
    timed = TimedBatches(Consumer(), SimpleNamespace(handle=handled.append), start_ms=1_000)
    for newest in (1_000 + DAY_MS - 1, 1_000 + DAY_MS):
        timed.consume()
        timed.handle([SimpleNamespace(value={"timestamp": 1_000}), SimpleNamespace(value={"timestamp": newest})])
        assert timed.commit() == "committed"
    timed.commit()  # a commit without a batch in hand counts nothing
    assert [day for day, _ in timed.batches] == [0, 1] and len(handled) == 2


@pytest.mark.usefixtures("db")
def test_maintenance_benchmark_times_the_fleet_list():
    from benchmarks import maintenance

    results = maintenance.run(machines=3, templates=2, requests=3, engine="mongomock://")

    assert [r.figure for r in results] == [
        "fleet list, 3 machines x 2 plans (mongomock), median",
        "fleet list, 3 machines x 2 plans (mongomock), p95",
    ]
    assert all(r.value > 0 and r.unit == "ms" for r in results)
