"""The shard key of every collection a fleet may outgrow one replica set with (docs/SCALING.md).

Nothing shards a collection by itself: an operator runs ``sh.shardCollection`` with these keys.
What the code owes them: every write's filter (updates, replacements, upserts, deletes) holds an
equality on each field of its collection's shard key, and every inserted document holds them,
so that mongos sends each write to one shard and no sharded deployment needs a code change.
``tests/site/test_shard_keys.py`` checks every write of every repository against this table.
"""

from __future__ import annotations

SHARD_KEYS: dict[str, dict[str, int | str]] = {
    # One document per machine, rewritten every message: hashed, so the writes spread evenly from
    # the first day and no machine range becomes hot.
    "current_state": {"_id": "hashed"},
    "usage_last_readings": {"_id": "hashed"},
    "positions_latest": {"_id": "hashed"},
    # One document per reading or day of a machine, each unique on (identifier, time): MongoDB
    # enforces a unique index across shards only when the shard key prefixes it, and only on a
    # ranged key, so the key is the unique index itself. One machine's range is one shard's read.
    "positions": {"identifier": 1, "timestamp": 1},
    "usage_deltas": {"identifier": 1, "interval_end": 1},
    "usage_daily": {"identifier": 1, "date": 1},
    # Unique on (identifier, last_update): prefixed by identifier.
    "equipment_registry": {"identifier": 1},
    # Maintenance: one high-water mark per machine (like current_state), and the emitted events,
    # whose _id (machine|template|cycle|status) starts with the machine: equal _ids share a shard.
    "maintenance_high_water": {"_id": "hashed"},
    "maintenance_emissions": {"machine": 1},
    # Alerts: one window per machine (rewritten every batch, like current_state), and the alerts,
    # each written and acknowledged by its id (hash(machine, rule, start)): hashed ids spread evenly.
    "alert_machines": {"_id": "hashed"},
    "alerts": {"_id": "hashed"},
}

# A handful of documents each (usage_repricings: one per registry version that re-priced usage;
# simulator_runs: the embedded stack's simulated fleet): they stay on their database's primary shard.
UNSHARDED = ("consumer_progress", "readiness", "usage_repricings", "simulator_runs")
