"""The lazy registries and the system check: built on first use, cached, reset by settings."""

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from telemetry_site import backends
from telemetry_site.backends import BackendHandler, RepositoryHandler


class Thing:
    def __init__(self, size: int = 1) -> None:
        self.size = size


def test_alias_is_built_once_with_its_options():
    handler = BackendHandler({"a": {"BACKEND": "tests.site.test_backends.Thing", "OPTIONS": {"size": 3}}})
    first = handler["a"]
    assert isinstance(first, Thing) and first.size == 3
    assert handler["a"] is first
    handler.reset()
    assert handler["a"] is not first


def test_unknown_alias_and_bad_path_are_configuration_errors():
    handler = BackendHandler({"a": {"BACKEND": "tests.site.test_backends.Nope"}}, setting_name="X")
    with pytest.raises(ImproperlyConfigured, match=r"Could not find config for 'b' in settings\.X"):
        handler["b"]
    with pytest.raises(ImproperlyConfigured, match="Fix the dotted path"):
        handler["a"]


def test_changing_a_setting_resets_the_registries(settings, mongo_db):
    repository = backends.repositories["current_state"]
    assert backends.repositories["current_state"] is repository
    settings.TELEMETRY_REPOSITORIES = {
        "current_state": {
            "BACKEND": "equipment_current.repository.CurrentStateRepository",
            "OPTIONS": {"database": "default", "collection": "other"},
        }
    }
    rebuilt = backends.repositories["current_state"]
    assert rebuilt is not repository
    assert rebuilt.collection.name == "other"


def test_repository_gets_its_database_by_alias_and_its_indexes(mongo_db):
    handler = RepositoryHandler(
        {"s": {"BACKEND": "equipment_current.repository.CurrentStateRepository", "OPTIONS": {"collection": "s"}}}
    )
    repository = handler["s"]
    assert repository.collection.database.name == mongo_db.name
    assert "last_event_at" in repository.collection.index_information()


def test_system_check_reports_a_bad_dotted_path_without_connecting(settings):
    settings.TELEMETRY_DATABASES = {
        "default": {"BACKEND": "stream.mongo.open_databse", "OPTIONS": {"uri": "mongodb://10.255.255.1"}}
    }
    errors = [e for e in run_checks() if e.id == "telemetry.E001"]
    assert len(errors) == 1
    assert "TELEMETRY_DATABASES['default']['BACKEND']" in errors[0].msg
    assert "open_databse" in errors[0].msg


def test_system_check_is_clean_on_the_shipped_settings():
    assert [e for e in run_checks() if e.id.startswith("telemetry.")] == []


def test_unknown_mongo_scheme_says_how_to_fix_it():
    from telemetry_site.databases import open_database

    with pytest.raises(ImproperlyConfigured, match="mongodb://host:27017"):
        open_database("postgres://x", "c40")


def test_reset_follows_dependencies_only(settings, mongo_db, avro):
    database, codec, factory = backends.databases["default"], avro["telemetry"], backends.kafka["default"]
    repository = backends.repositories["current_state"]
    settings.TELEMETRY_SERVICES = {}  # read at call time: resets nothing
    assert backends.repositories["current_state"] is repository and avro["telemetry"] is codec
    settings.TELEMETRY_SCHEMA_REGISTRIES = {**settings.TELEMETRY_SCHEMA_REGISTRIES}
    assert avro["telemetry"] is not codec  # a codec holds a registry client
    assert backends.databases["default"] is database and backends.kafka["default"] is factory
    settings.TELEMETRY_DATABASES = {**settings.TELEMETRY_DATABASES}
    assert backends.repositories["current_state"] is not repository  # a repository holds a database
