"""What a pymongo-compatible store's errors mean, and the writes every repository shares.

Opening the store from a URI is the Django project's (``telemetry_site.databases``): it knows the
embedded stack's litemongo engine, which this package must not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

DUPLICATE_KEY = 11000
# Server error codes that mean "the cluster is busy, electing, shutting down or slow", not "this
# write is wrong": the retryable codes of MongoDB's retryable-writes specification (pymongo keeps
# them private), the ones a write concern wait or a time limit ends with, and the sharding ones a
# chunk migration or a shard's failover returns to mongos.
TRANSIENT_SERVER_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        50,  # MaxTimeMSExpired
        63,  # StaleShardVersion
        64,  # WriteConcernFailed (wtimeout)
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        112,  # WriteConflict
        134,  # ReadConcernMajorityNotAvailableYet
        150,  # StaleEpoch
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13388,  # StaleConfig
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)
# A write concern the deployment can never satisfy (more members than it has, an unknown tag):
# retrying cannot help, the setting must change (MONGO_WRITE_CONCERN).
UNSATISFIABLE_WRITE_CONCERN = frozenset({79, 100})  # UnknownReplWriteConcern, UnsatisfiableWriteConcern
READINESS_COLLECTION = "readiness"


def check_majority_write(database: Any) -> None:
    """Raise unless a majority of the replica set acknowledges a write.

    A ping only shows that one member answers; the consumers need a primary that can replicate
    (their writes use ``w: majority``). One small document, upserted in place, whatever the number
    of probes. Bound it with ``pymongo.timeout(...)``: without one, the wait for a majority lasts
    as long as the client's ``timeoutMS``."""
    from pymongo import WriteConcern
    from pymongo.errors import DuplicateKeyError

    collection = database[READINESS_COLLECTION].with_options(write_concern=WriteConcern("majority"))
    try:
        collection.update_one({"_id": "ready"}, {"$set": {"checked_at": datetime.now(UTC)}}, upsert=True)
    except DuplicateKeyError:
        # Two probes created the document at once (the first burst of parallel /ready requests,
        # from two web processes: one in 20 answered 503): it exists now, so this updates it.
        collection.update_one({"_id": "ready"}, {"$set": {"checked_at": datetime.now(UTC)}}, upsert=True)


def bulk_upsert(collection: Any, operations: list[Any]) -> None:
    """Run conditional upserts in one unordered bulk write, re-running those that lost a race.

    Two processes upserting the same new document: one insert loses on ``_id`` (duplicate key).
    The document exists now, so the same conditional update applies cleanly the second time. Not
    when the write concern failed too: the writes that went through may be rolled back, so the
    error goes back to the loop, which retries the whole batch (``is_transient_error``).
    """
    from pymongo.errors import BulkWriteError

    try:
        collection.bulk_write(operations, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or not errors:
            raise
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        collection.bulk_write([operations[error["index"]] for error in errors], ordered=False)


def is_transient_error(exc: BaseException) -> bool:
    """Whether a pymongo error means "the database cannot take this now, try again", with nothing
    lost by retrying (every write of this project is idempotent).

    - connection failures, a lost or stepping-down primary, server selection and network timeouts
      (``ConnectionFailure``: ``AutoReconnect``, ``NotPrimaryError``, ``NetworkTimeout``…);
    - a time limit hit (``ExecutionTimeout``) and a write concern not met in time
      (``WTimeoutError``, ``WriteConcernError``) — the write may be on the primary, not yet on a
      majority, and could be rolled back: the batch must not be committed;
    - a ``BulkWriteError`` with write concern errors, or with transient write errors, whose other
      write errors are duplicate keys (a replay's): retried whole, it changes nothing twice;
    - any other server error labelled retryable, or with a transient code.

    A bulk error with another write error (a document the server rejects) is not transient: the
    retry would fail the same way forever."""
    from pymongo.errors import (
        BulkWriteError,
        ConnectionFailure,
        ExecutionTimeout,
        OperationFailure,
        WriteConcernError,
    )

    if isinstance(exc, ConnectionFailure | ExecutionTimeout):
        return True
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        concern = details.get("writeConcernErrors") or []
        codes = [error.get("code") for error in details.get("writeErrors") or []]
        if any(error.get("code") in UNSATISFIABLE_WRITE_CONCERN for error in concern):
            return False
        if not concern and not any(code in TRANSIENT_SERVER_CODES for code in codes):
            return False
        return all(code == DUPLICATE_KEY or code in TRANSIENT_SERVER_CODES for code in codes)
    if isinstance(exc, WriteConcernError):
        return exc.code not in UNSATISFIABLE_WRITE_CONCERN
    if isinstance(exc, OperationFailure):
        return exc.code in TRANSIENT_SERVER_CODES or exc.has_error_label("RetryableWriteError")
    return False
