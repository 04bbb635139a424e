"""Settings for the c40 telemetry backend.

Every value an operator may change comes from the environment (12-factor) and has an embedded
default that works on a fresh machine. The table in README.md lists the public names.

Reading the environment here is what settings are for; nothing in this module opens a
connection: the dicts below only name factories, which the registries in
``telemetry_site.backends`` build on first use.
"""

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Where the embedded defaults keep their files: Django's SQLite, the litemongo store, logs.
RUN_DIR = Path(os.environ.get("C40_RUN_DIR", str(BASE_DIR / "var")))


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_float(name: str, default: float) -> float:
    return float(env(name, str(default)))


def env_json(name: str, default: dict) -> dict:
    raw = os.environ.get(name)
    return json.loads(raw) if raw else default


# --- Django -------------------------------------------------------------------------------------


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# DEBUG is on by default for manage.py (make run, runserver, the tests) and off under the WSGI entry
# point (telemetry_site/wsgi.py sets DJANGO_DEBUG=0 unless the environment says otherwise) and in the
# image: the production command is safe without being told.
DEBUG = env_bool("DJANGO_DEBUG", True)
# Published in this repository, so it signs nothing in production: with DEBUG off the settings refuse
# it, and the placeholder of .env.example, and an empty key.
DEVELOPMENT_SECRET_KEY = "insecure-development-key-change-me"
PUBLIC_SECRET_KEYS = frozenset({"", DEVELOPMENT_SECRET_KEY, "change-me", "replace-with-a-random-secret-key"})
SECRET_KEY = env("DJANGO_SECRET_KEY", "" if not DEBUG else DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY.strip() in PUBLIC_SECRET_KEYS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a secret value when DJANGO_DEBUG=0 "
        f"({f'{SECRET_KEY!r} is a published placeholder' if SECRET_KEY.strip() else 'it is not set'}). "
        "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
# Origins trusted for unsafe requests (the admin's login form) when a proxy changes scheme or host.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")


def proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto=https`` (the header a TLS-terminating proxy sets, and the value that means
    HTTPS) as Django's ``("HTTP_X_FORWARDED_PROTO", "https")``; empty is None."""
    raw = env(name, "").strip()
    if not raw:
        return None
    header, sep, value = raw.partition("=")
    if not sep or not header.strip() or not value.strip():
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name} must look like X-Forwarded-Proto=https, got {raw!r}.")
    meta_key = header.strip().upper().replace("-", "_")
    return (meta_key if meta_key.startswith("HTTP_") else f"HTTP_{meta_key}", value.strip())


# HTTPS, for a deployment behind TLS (README, "Running it in production"); all off by default so
# that plain-HTTP development keeps working. The probes stay reachable over HTTP.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header("DJANGO_SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)

INSTALLED_APPS = [
    # First, so that its templates (the admin index with the ops links) override the admin's.
    "telemetry_site",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "devstack",  # the embedded stack's commands: run_embedded, simulate_fleet
    "equipment_current",
    "equipment_history",
    "equipment_usage",
    "equipment_connectors",
    "equipment_rentals",
    "equipment_maintenance",
    "equipment_utilisation",
    "equipment_alerts",
]

MIDDLEWARE = [
    # First, so that its time covers every other middleware (docs/OPERATIONS.md).
    "telemetry_site.http_metrics.PrometheusMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, Swagger UI, ReDoc) under gunicorn too, by a well-kept library, not a view of ours.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "telemetry_site.middleware.RequestLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "telemetry_site.urls"
# The apps' ops pages, mounted under /admin/ops/ (telemetry_site/ops_urls.py): each a module with urlpatterns.
TELEMETRY_OPS_URLS = ["equipment_current.ops_urls", "equipment_usage.ops_urls", "equipment_connectors.ops_urls"]
WSGI_APPLICATION = "telemetry_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's own tables (auth, sessions) only; telemetry lives in MongoDB.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env("DJANGO_SQLITE_PATH", str(RUN_DIR / "django.sqlite3")),
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# WhiteNoise serves the static files (admin, Swagger UI, ReDoc) straight from the installed
# packages, through Django's finders: no collectstatic step, nothing to keep in sync. STATIC_ROOT
# is only for operators who collect them for a CDN or a proxy (DJANGO_STATIC_ROOT).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", "")) if env("DJANGO_STATIC_ROOT", "") else None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "telemetry_site.api.exception_handler",
    # An unknown or empty ?format= is a 400 naming it.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "telemetry_site.negotiation.ContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": [
        # DRF's, well-formed for any stored value (lone surrogates, NaN): telemetry_site/renderers.py.
        "telemetry_site.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated request then gets 401 with WWW-Authenticate: Token.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["telemetry_site.permissions.AuthenticatedOrTrustedRead"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Everything but /health, /ready and the docs requires a session or a token
# (``Authorization: Token <key>``, see ``manage.py create_api_token``). On a trusted network,
# API_ALLOW_ANONYMOUS_READ=1 opens GET/HEAD/OPTIONS to anyone.
API_ALLOW_ANONYMOUS_READ = env_bool("API_ALLOW_ANONYMOUS_READ", False)

SPECTACULAR_SETTINGS = {
    "TITLE": "c40 telemetry backend API",
    "DESCRIPTION": "Latest state, position history and usage of heavy equipment, from C40 telemetry.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 100)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 1000)

# Readable lines by default; LOG_FORMAT=json writes one JSON object per line for log shippers,
# with the service, batch and partitions of a consumer's batch as fields (telemetry_site.logs).
LOG_FORMAT = env("LOG_FORMAT", "line")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "telemetry_site.logs.JsonFormatter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            # An unknown value falls back to lines here; the system check telemetry.E019 names it.
            "formatter": LOG_FORMAT if LOG_FORMAT in ("line", "json") else "line",
        }
    },
    "loggers": {
        "telemetry": {"handlers": ["stdout"], "level": env("LOG_LEVEL", "INFO"), "propagate": False},
        # Every 500 with its traceback (django.request logs 5xx at ERROR with exc_info; 4xx are
        # WARNING, left out), and refused hosts and other suspicious requests (django.security).
        "django.request": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
        "django.security": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
    },
}

# --- Metrics (docs/OPERATIONS.md) ---------------------------------------------------------------
# Each consume_* command serves Prometheus metrics at http://METRICS_ADDRESS:METRICS_PORT/metrics;
# 0 (the default) serves nothing. The web server answers /metrics on its own port.
METRICS_PORT = env_int("METRICS_PORT", 0)
METRICS_ADDRESS = env("METRICS_ADDRESS", "0.0.0.0")
# Off: the consumers keep no metrics at all (to measure what they cost; docs/OPERATIONS.md).
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)

# --- MongoDB ------------------------------------------------------------------------------------
# mongodb:// or mongodb+srv:// is a real server; litemongo:///path is the embedded SQLite-backed
# store shared by every process of the embedded stack; mongomock:// is in-process memory.
MONGO_URI = env("MONGO_URI", f"litemongo://{RUN_DIR / 'litemongo'}")
MONGO_DB = env("MONGO_DB", "c40")
MONGO_TIMEOUT_MS = env_int("MONGO_TIMEOUT_MS", 5000)
# A real server's client (README, "MongoDB client"); an option written in MONGO_URI wins over these.
MONGO_OPERATION_TIMEOUT_MS = env_int("MONGO_OPERATION_TIMEOUT_MS", 10000)
MONGO_WRITE_CONCERN = env("MONGO_WRITE_CONCERN", "majority")
MONGO_RETRY_WRITES = env_bool("MONGO_RETRY_WRITES", True)
MONGO_APPNAME = env("MONGO_APPNAME", "c40-telemetry")
MONGO_OPTIONS = env_json("MONGO_OPTIONS", {})

TELEMETRY_DATABASES = {
    "default": {
        "BACKEND": "telemetry_site.databases.open_database",
        "OPTIONS": {
            "uri": MONGO_URI,
            "name": MONGO_DB,
            "timeout_ms": MONGO_TIMEOUT_MS,
            "operation_timeout_ms": MONGO_OPERATION_TIMEOUT_MS,
            "write_concern": MONGO_WRITE_CONCERN,
            "retry_writes": MONGO_RETRY_WRITES,
            "appname": MONGO_APPNAME,
            **MONGO_OPTIONS,
        },
    },
}

TELEMETRY_REPOSITORIES = {
    "consumer_progress": {
        "BACKEND": "stream.progress.ConsumerProgressRepository",
        "OPTIONS": {"database": "default", "collection": "consumer_progress"},
    },
    "current_state": {
        "BACKEND": "equipment_current.repository.CurrentStateRepository",
        "OPTIONS": {"database": "default", "collection": "current_state"},
    },
    # Usage service (equipment_usage): the ledger of deltas, last readings and daily totals.
    "usage": {
        "BACKEND": "equipment_usage.repository.UsageRepository",
        "OPTIONS": {
            "database": "default",
            "collection": "usage_deltas",
            "last_readings_collection": "usage_last_readings",
            "daily_collection": "usage_daily",
        },
    },
    "equipment_registry": {
        "BACKEND": "equipment_usage.repository_registry.EquipmentRegistryRepository",
        "OPTIONS": {"database": "default", "collection": "equipment_registry"},
    },
}

# --- Kafka --------------------------------------------------------------------------------------

KAFKA_BOOTSTRAP_SERVERS = env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
TELEMETRY_TOPIC = env("TELEMETRY_TOPIC", "data.c40.equipment.enriched")
REGISTRY_TOPIC = env("REGISTRY_TOPIC", "data.registry.equipment")
USAGE_TOPIC = env("USAGE_TOPIC", "data.c40.usage")
DEAD_LETTER_TOPIC = env("DEAD_LETTER_TOPIC", "data.c40.deadletter")
# A dead letter larger than this (value, key and headers) is cut to a prefix of its value with the
# whole value's size and SHA-256 (docs/CONSUMERS.md). Under librdkafka's message.max.bytes (1,000,000)
# and Kafka's default max.message.bytes (1,048,588); one the broker still refuses is cut further.
DEAD_LETTER_MAX_BYTES = env_int("DEAD_LETTER_MAX_BYTES", 900_000)

TELEMETRY_KAFKA = {
    "default": {
        "BACKEND": "stream.kafka.KafkaClientFactory",
        "OPTIONS": {
            # librdkafka properties shared by consumers and producers; KAFKA_OPTIONS (JSON) adds more
            # (security.protocol, sasl.*), KAFKA_CONSUMER_OPTIONS / KAFKA_PRODUCER_OPTIONS per role.
            "common": {"bootstrap.servers": KAFKA_BOOTSTRAP_SERVERS, **env_json("KAFKA_OPTIONS", {})},
            "consumer": {
                "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 1000,
                "max.poll.interval.ms": 300000,
                **env_json("KAFKA_CONSUMER_OPTIONS", {}),
            },
            "producer": env_json("KAFKA_PRODUCER_OPTIONS", {}),
        },
    },
}

CONSUMER_BATCH_SIZE = env_int("CONSUMER_BATCH_SIZE", 500)
CONSUMER_BATCH_WAIT_SECONDS = env_float("CONSUMER_BATCH_WAIT_SECONDS", 1.0)
CONSUMER_RETRY_BACKOFF_SECONDS = env_float("CONSUMER_RETRY_BACKOFF_SECONDS", 0.5)
CONSUMER_RETRY_BACKOFF_MAX_SECONDS = env_float("CONSUMER_RETRY_BACKOFF_MAX_SECONDS", 30.0)

# --- Codecs -------------------------------------------------------------------------------------
# Avro in the Confluent wire format needs a schema registry; without one the JSON codec is the
# default, so the embedded stack runs on a fresh machine.
SCHEMA_REGISTRY_URL = env("SCHEMA_REGISTRY_URL", "")
TELEMETRY_CODEC = env("TELEMETRY_CODEC", "avro" if SCHEMA_REGISTRY_URL else "json")
_CODEC_BACKENDS = {"avro": "stream.codecs.ConfluentAvroCodec", "json": "stream.codecs.JsonCodec"}

TELEMETRY_SCHEMA_REGISTRIES = {
    "default": {
        "BACKEND": "stream.codecs.schema_registry_client",
        "OPTIONS": {"url": SCHEMA_REGISTRY_URL, **env_json("SCHEMA_REGISTRY_OPTIONS", {})},
    },
}


def _codec(schema: str, topic: str) -> dict:
    backend = _CODEC_BACKENDS.get(TELEMETRY_CODEC, TELEMETRY_CODEC)
    options = {"schema": schema}
    if backend == _CODEC_BACKENDS["avro"]:
        options.update(registry="default", subject=f"{topic}-value")
    return {"BACKEND": backend, "OPTIONS": options}


TELEMETRY_CODECS = {
    "telemetry": _codec("c40_enriched.avsc", TELEMETRY_TOPIC),
    "registry": _codec("equipment_registry.avsc", REGISTRY_TOPIC),
    "usage": _codec("usage.avsc", USAGE_TOPIC),
}

# --- Validation of decoded telemetry (pure rules in stream.validation) -------------------

TELEMETRY_VALIDATION = {
    # Event time must fall in [now - MAX_AGE_DAYS, now + MAX_FUTURE_MINUTES].
    "MAX_AGE_DAYS": env_int("VALIDATION_MAX_AGE_DAYS", 3650),
    "MAX_FUTURE_MINUTES": env_int("VALIDATION_MAX_FUTURE_MINUTES", 10),
    "MAX_STRING_LENGTH": env_int("VALIDATION_MAX_STRING_LENGTH", 1024),
    "MAX_POINTS_OF_INTEREST": env_int("VALIDATION_MAX_POINTS_OF_INTEREST", 100),
    # Every service (validation.storable_problems): containers nested at most this deep, and a
    # record of at most this many bytes of strings, keys and numbers (MongoDB's limit is 16 MB).
    "MAX_DEPTH": env_int("VALIDATION_MAX_DEPTH", 16),
    "MAX_DOCUMENT_BYTES": env_int("VALIDATION_MAX_DOCUMENT_BYTES", 1_048_576),
    # Registry rates (validation.validate_registry): at most this per hour or per km.
    "MAX_RATE": env_float("VALIDATION_MAX_RATE", 1_000_000.0),
}

# --- Consumer services: one consumer group each, run by manage.py consume_* ---------------------

TELEMETRY_SERVICES = {
    "current": {
        "TOPIC": TELEMETRY_TOPIC,
        "GROUP_ID": env("CURRENT_GROUP_ID", "c40-equipment-current"),
        "CODEC": "telemetry",
        "VALIDATOR": "stream.validation.validate_telemetry",
        "HANDLER": "equipment_current.handlers.CurrentStateHandler",
    },
    "usage": {
        "TOPIC": TELEMETRY_TOPIC,
        "GROUP_ID": env("USAGE_GROUP_ID", "c40-equipment-usage"),
        "CODEC": "telemetry",
        "VALIDATOR": "stream.validation.validate_telemetry",
        "HANDLER": "equipment_usage.handlers.UsageHandler",
    },
    "registry": {
        "TOPIC": REGISTRY_TOPIC,
        "GROUP_ID": env("REGISTRY_GROUP_ID", "c40-equipment-registry"),
        "CODEC": "registry",
        "VALIDATOR": "stream.validation.validate_registry",
        "HANDLER": "equipment_usage.handlers_registry.EquipmentRegistryHandler",
    },
}

# Machines whose last event is older than this are "stale" in the fleet snapshot by default.
CURRENT_STALE_MINUTES = env_int("CURRENT_STALE_MINUTES", 60)

# /ready gives each dependency this long to answer.
READY_TIMEOUT_SECONDS = env_float("READY_TIMEOUT_SECONDS", 2.0)

# --- History ------------------------------------------------------------------------------------
# The position-history service (docs/HISTORY.md). Its repository and consumer service are added
# to the registries here, so this block is all the history settings there are.

# Positions older than this leave MongoDB through a TTL index; older ranges come from the archive.
HISTORY_RETENTION_DAYS = env_int("HISTORY_RETENTION_DAYS", 30)
# The longest from..to range one request may ask for.
HISTORY_MAX_SPAN_DAYS = env_int("HISTORY_MAX_SPAN_DAYS", 31)
# The archive is asked this far past the retention boundary, so that TTL lag and clock skew
# between MongoDB and this process leave no gap at the seam (the merge drops the duplicates).
HISTORY_ARCHIVE_OVERLAP_MINUTES = env_int("HISTORY_ARCHIVE_OVERLAP_MINUTES", 60)
# "Today" of locations/today/ is the calendar day in this time zone.
HISTORY_TIME_ZONE = env("HISTORY_TIME_ZONE", "UTC")

# The built-in cold archive: Parquet files written by the `archive` consumer service, under a local
# folder or an object-store URI (s3://bucket/prefix?endpoint_override=...). Empty = no archive.
HISTORY_ARCHIVE_PATH = env("HISTORY_ARCHIVE_PATH", str(RUN_DIR / "archive" / "positions"))
# The archiver joins a date's files of one Kafka partition into one once there are this many.
HISTORY_ARCHIVE_COMPACT_AFTER_FILES = env_int("HISTORY_ARCHIVE_COMPACT_AFTER_FILES", 32)
HISTORY_ARCHIVE_URL = env("HISTORY_ARCHIVE_URL", "")

# Where the API reads positions older than the retention window: an archive service of the team's
# own over HTTP when HISTORY_ARCHIVE_URL is set, the built-in Parquet archive otherwise.
HISTORY_ARCHIVES = {
    "default": (
        {
            "BACKEND": "equipment_history.archive.HttpArchiveClient",
            "OPTIONS": {
                "url": HISTORY_ARCHIVE_URL,
                "connect_timeout": env_float("HISTORY_ARCHIVE_CONNECT_TIMEOUT_SECONDS", 2.0),
                "read_timeout": env_float("HISTORY_ARCHIVE_READ_TIMEOUT_SECONDS", 5.0),
            },
        }
        if HISTORY_ARCHIVE_URL
        else {
            "BACKEND": "equipment_history.parquet_archive.ParquetPositionArchive",
            "OPTIONS": {"path": HISTORY_ARCHIVE_PATH},
        }
    ),
}

TELEMETRY_REPOSITORIES["positions"] = {
    "BACKEND": "equipment_history.repository.PositionRepository",
    "OPTIONS": {"database": "default", "collection": "positions", "retention_days": HISTORY_RETENTION_DAYS},
}

TELEMETRY_SERVICES["history"] = {
    "TOPIC": TELEMETRY_TOPIC,
    "GROUP_ID": env("HISTORY_GROUP_ID", "c40-equipment-history"),
    "CODEC": "telemetry",
    "VALIDATOR": "stream.validation.validate_telemetry",
    "HANDLER": "equipment_history.handlers.PositionHistoryHandler",
}

# The archiver: every position to HISTORY_ARCHIVE_PATH, committed once its files are durable. Larger,
# slower batches than the other services, because each batch is one file per date and partition.
TELEMETRY_SERVICES["archive"] = {
    "TOPIC": TELEMETRY_TOPIC,
    "GROUP_ID": env("ARCHIVE_GROUP_ID", "c40-position-archive"),
    "CODEC": "telemetry",
    "VALIDATOR": "stream.validation.validate_telemetry",
    "HANDLER": "equipment_history.archiver.PositionArchiveHandler",
    "BATCH_SIZE": env_int("ARCHIVE_BATCH_SIZE", 5000),
    "BATCH_WAIT_SECONDS": env_float("ARCHIVE_BATCH_WAIT_SECONDS", 2.0),
}

# --- Usage --------------------------------------------------------------------------------------
# Rules of the usage service (docs/USAGE.md): local days are cut at midnight in USAGE_TIME_ZONE;
# a counter increase beyond these limits is implausible and counts nothing.
USAGE_TIME_ZONE = env("USAGE_TIME_ZONE", "UTC")
USAGE_MAX_SPEED_KMH = env_float("USAGE_MAX_SPEED_KMH", 80.0)
# Engine hours a reading may exceed the elapsed hours by (meter resolution, clock skew).
USAGE_HOURS_TOLERANCE = env_float("USAGE_HOURS_TOLERANCE", 0.1)
# Km a reading may exceed USAGE_MAX_SPEED_KMH x elapsed hours by (odometer resolution).
USAGE_KM_TOLERANCE = env_float("USAGE_KM_TOLERANCE", 0.1)
# A reading older than its machine's newest one by more than this many days is stored flagged
# `too_late` and not spliced into the ledger: the horizon for corrections (and for pruning deltas).
USAGE_LATE_READING_MAX_AGE_DAYS = env_float("USAGE_LATE_READING_MAX_AGE_DAYS", 30.0)
# A registry version that changes the price of stored usage re-prices the intervals it governs back
# to this many days before the machine's newest reading; older ones keep their price (the change is
# stored and reported in usage_repricings). The horizon for re-pricing (and for pruning deltas).
USAGE_REPRICE_MAX_AGE_DAYS = env_float("USAGE_REPRICE_MAX_AGE_DAYS", 30.0)

# --- Connectors (docs/CONNECTORS.md) -------------------------------------------------------------
# manage.py run_connectors: other makers' ISO 15143-3 feeds into TELEMETRY_TOPIC. The connectors
# themselves (maker, URL, credentials, poll period, budget) are rows of the admin and /api/v1/connectors/.
CONNECTORS_TIMEOUT_SECONDS = env_float("CONNECTORS_TIMEOUT_SECONDS", 30.0)  # per request, whole answer
CONNECTORS_MAX_PAGE_BYTES = env_int("CONNECTORS_MAX_PAGE_BYTES", 1_048_576)  # a larger page is an error
CONNECTORS_MAX_PAGES = env_int("CONNECTORS_MAX_PAGES", 1000)  # per poll
TELEMETRY_REPOSITORIES["connector_dedup"] = {
    "BACKEND": "equipment_connectors.repository.DedupRepository",
    "OPTIONS": {"database": "default", "collection": "connector_dedup"},
}
TELEMETRY_REPOSITORIES["connector_registry_index"] = {
    "BACKEND": "equipment_connectors.repository.RegistryIndex",
    "OPTIONS": {"database": "default", "collection": "equipment_registry"},
}

# --- Rentals ------------------------------------------------------------------------------------
# Rental contracts and statements (docs/RENTALS.md): periods in a contract's zone, or this one.
RENTALS_TIME_ZONE = env("RENTALS_TIME_ZONE", USAGE_TIME_ZONE)
# An interval between readings longer than this is no data (data-gap hours), as for utilisation.
RENTALS_DATA_GAP_HOURS = env_float("RENTALS_DATA_GAP_HOURS", 1.0)
RENTALS_TOPIC = env("RENTALS_TOPIC", "data.c40.rentals")
TELEMETRY_CODECS["rentals"] = _codec("rental_statement.avsc", RENTALS_TOPIC)
# Periods that ended more than this many days ago keep the hours of their issued version (no late
# reading reaches them: usage's correction horizon, plus a day), so the ledger behind them may be
# pruned. A contract change still re-prices them.
RENTALS_RECOMPUTE_DAYS = env_float("RENTALS_RECOMPUTE_DAYS", USAGE_LATE_READING_MAX_AGE_DAYS + 1)
# Rows of one export or meter-reading CSV at most (a longer range is a 400 naming from/to).
RENTALS_EXPORT_MAX_ROWS = env_int("RENTALS_EXPORT_MAX_ROWS", 100_000)
TELEMETRY_REPOSITORIES["rental_usage"] = {
    "BACKEND": "equipment_rentals.repository.RentalUsageRepository",
    "OPTIONS": {"database": "default", "collection": "usage_deltas"},
}

# --- Maintenance (docs/MAINTENANCE.md) ----------------------------------------------------------
# Events DUE_SOON / DUE / OVERDUE / DONE, each once per (machine, template, cycle, status).
MAINTENANCE_TOPIC = env("MAINTENANCE_TOPIC", "data.c40.maintenance")
TELEMETRY_CODECS["maintenance"] = _codec("maintenance_event.avsc", MAINTENANCE_TOPIC)
# "Today" of statuses and forecasts: the date of MAINTENANCE_CLOCK() (a dotted path or, in tests, a
# callable returning an aware datetime) in MAINTENANCE_TIME_ZONE; reading dates use the same zone.
MAINTENANCE_CLOCK = env("MAINTENANCE_CLOCK", "django.utils.timezone.now")
MAINTENANCE_TIME_ZONE = env("MAINTENANCE_TIME_ZONE", USAGE_TIME_ZONE)
# The forecast divides hours left by the average daily engine hours of this many days before today.
MAINTENANCE_AVERAGE_DAYS = env_int("MAINTENANCE_AVERAGE_DAYS", 30)
# A service record's DONE is published inline, waiting this long; undelivered, it stays pending in
# the emission store and the maintenance consumer publishes it with the machine's next readings.
MAINTENANCE_PUBLISH_TIMEOUT_SECONDS = env_float("MAINTENANCE_PUBLISH_TIMEOUT_SECONDS", 5.0)
MAINTENANCE_PUBLISHER = "equipment_maintenance.publisher.MaintenancePublisher"
TELEMETRY_REPOSITORIES["maintenance_readings"] = {
    "BACKEND": "equipment_maintenance.repository.MaintenanceReadings",
    "OPTIONS": {"database": "default", "states_collection": "current_state", "daily_collection": "usage_daily"},
}
TELEMETRY_REPOSITORIES["maintenance_events"] = {
    "BACKEND": "equipment_maintenance.repository.MaintenanceEventRepository",
    "OPTIONS": {
        "database": "default",
        "emissions_collection": "maintenance_emissions",
        "high_water_collection": "maintenance_high_water",
    },
}
# Engine hours from the telemetry topic in its own group: statuses are judged on each reading.
TELEMETRY_SERVICES["maintenance"] = {
    "TOPIC": TELEMETRY_TOPIC,
    "GROUP_ID": env("MAINTENANCE_GROUP_ID", "c40-equipment-maintenance"),
    "CODEC": "telemetry",
    "VALIDATOR": "stream.validation.validate_telemetry",
    "HANDLER": "equipment_maintenance.handlers.MaintenanceHandler",
}

# --- Utilisation (docs/UTILISATION.md) -------------------------------------------------------------
# Worked vs available hours, idle and stationary-running, per machine and local day. Days are local
# dates in the site's zone (UTILISATION_SITES), the machine's home zone off site
# (UTILISATION_MACHINE_TIME_ZONES), else this one.
UTILISATION_TIME_ZONE = env("UTILISATION_TIME_ZONE", USAGE_TIME_ZONE)
# How a class is judged: "motion" (haulers, dumpers: a stationary run with the engine on is idle) or
# "stationary" (excavators, cranes, generators: it is stationary-running, digging is not idling).
# CALENDAR (optional) overrides the default calendar for the class.
UTILISATION_CLASSES = env_json(
    "UTILISATION_CLASSES",
    {
        "excavator": {"JUDGED_BY": "stationary"},
        "backhoe": {"JUDGED_BY": "stationary"},
        "crane": {"JUDGED_BY": "stationary"},
        "generator": {"JUDGED_BY": "stationary"},
        "loader": {"JUDGED_BY": "motion"},
        "dumper": {"JUDGED_BY": "motion"},
        "hauler": {"JUDGED_BY": "motion"},
        "other": {"JUDGED_BY": "motion"},
    },
)
# A machine's class by the model of its telemetry (description.model, case-insensitive); the
# defaults name the models of the dev stack's simulated fleet.
UTILISATION_MODEL_CLASSES = env_json(
    "UTILISATION_MODEL_CLASSES",
    {
        "320": "excavator",
        "336": "excavator",
        "PC210": "excavator",
        "EC220": "excavator",
        "3CX": "backhoe",
        "LTM 1050": "crane",
        "L90": "loader",
        "B30E": "dumper",
    },
)
UTILISATION_DEFAULT_CLASS = env("UTILISATION_DEFAULT_CLASS", "other")
# Shift calendars: available hours per weekday and holidays. A site's CALENDAR wins over its
# class's, which wins over the default.
UTILISATION_CALENDARS = env_json(
    "UTILISATION_CALENDARS",
    {"standard": {"HOURS": {"mon": 8, "tue": 8, "wed": 8, "thu": 8, "fri": 8}, "HOLIDAYS": []}},
)
UTILISATION_DEFAULT_CALENDAR = env("UTILISATION_DEFAULT_CALENDAR", "standard")
UTILISATION_SITES = env_json("UTILISATION_SITES", {})  # site name -> {"TIME_ZONE": ..., "CALENDAR": ...}
UTILISATION_MACHINE_TIME_ZONES = env_json("UTILISATION_MACHINE_TIME_ZONES", {})  # machine -> home zone
UTILISATION_HOLIDAYS = env_list("UTILISATION_HOLIDAYS", "")  # YYYY-MM-DD, every calendar
# An interval between readings longer than this is no data, not idle or off.
UTILISATION_DATA_GAP_HOURS = env_float("UTILISATION_DATA_GAP_HOURS", 1.0)
# Idle: engine on, within UTILISATION_IDLE_RADIUS_M of the run's start and under UTILISATION_IDLE_MAX_KM,
# for at least UTILISATION_IDLE_MIN_SECONDS.
UTILISATION_IDLE_MIN_SECONDS = env_float("UTILISATION_IDLE_MIN_SECONDS", 180.0)
UTILISATION_IDLE_RADIUS_M = env_float("UTILISATION_IDLE_RADIUS_M", 30.0)
UTILISATION_IDLE_MAX_KM = env_float("UTILISATION_IDLE_MAX_KM", 0.05)
# Days of rows one API answer may cover (machines x days); a longer range is a 400 naming from/to.
UTILISATION_MAX_DAYS = env_int("UTILISATION_MAX_DAYS", 400)
UTILISATION_TOPIC = env("UTILISATION_TOPIC", "data.c40.utilisation")
TELEMETRY_CODECS["utilisation"] = _codec("utilisation_day.avsc", UTILISATION_TOPIC)
TELEMETRY_REPOSITORIES["utilisation"] = {
    "BACKEND": "equipment_utilisation.repository.UtilisationRepository",
    "OPTIONS": {
        "database": "default",
        "traces": "utilisation_traces",
        "days": "utilisation_days",
        "months": "utilisation_months",
    },
}
TELEMETRY_SERVICES["utilisation"] = {
    "TOPIC": TELEMETRY_TOPIC,
    "GROUP_ID": env("UTILISATION_GROUP_ID", "c40-equipment-utilisation"),
    "CODEC": "telemetry",
    "VALIDATOR": "stream.validation.validate_telemetry",
    "HANDLER": "equipment_utilisation.handlers.UtilisationHandler",
}
TELEMETRY_OPS_URLS.append("equipment_utilisation.ops_urls")

# --- Alerts (docs/ALERTS.md) --------------------------------------------------------------------
# The alert consumer judges each machine's readings with the rules of /api/v1/alert-rules/ and, when
# ALERTS_BUILTIN_RULES is on, one fleet-wide rule of every kind with its defaults.
ALERTS_BUILTIN_RULES = env_bool("ALERTS_BUILTIN_RULES", True)
# Shift windows, local days and report periods are in this zone unless a rule or schedule names one.
ALERTS_TIME_ZONE = env("ALERTS_TIME_ZONE", USAGE_TIME_ZONE)
# Local dates (YYYY-MM-DD, comma-separated) on which the whole day is outside the shift.
ALERTS_HOLIDAYS = env_list("ALERTS_HOLIDAYS", "")
# Tank capacity for refuel and fuel_drain when the registry has none for the machine.
ALERTS_TANK_CAPACITY_L = env_float("ALERTS_TANK_CAPACITY_L", 400.0)
# ... and per machine model (description.model), JSON: {"PC210": 400, "L120H": 280}.
ALERTS_TANK_CAPACITIES = env_json("ALERTS_TANK_CAPACITIES", {})
# Readings of a machine judged together: this many hours back from its newest (a late reading older
# than that is judged against what is left; docs/ALERTS.md, "Late readings").
ALERTS_WINDOW_HOURS = env_float("ALERTS_WINDOW_HOURS", 48.0)
ALERTS_TOPIC = env("ALERTS_TOPIC", "data.c40.alerts")
ALERT_REPORTS_TOPIC = env("ALERT_REPORTS_TOPIC", "data.c40.alert-reports")
TELEMETRY_CODECS["alerts"] = _codec("alert_event.avsc", ALERTS_TOPIC)
TELEMETRY_CODECS["alert_reports"] = _codec("alert_report.avsc", ALERT_REPORTS_TOPIC)
# Scheduled reports (CSV and XLSX) go here: a folder, or an object-store URI
# (s3://bucket/prefix?endpoint_override=...), the same kinds of location as the archive's.
ALERTS_REPORTS_PATH = env("ALERTS_REPORTS_PATH", str(RUN_DIR / "archive" / "alert-reports"))
TELEMETRY_FILE_STORES = {
    "alert_reports": {"BACKEND": "telemetry_site.file_store.FileStore", "OPTIONS": {"path": ALERTS_REPORTS_PATH}},
}
TELEMETRY_REPOSITORIES["alerts"] = {
    "BACKEND": "equipment_alerts.repository.AlertRepository",
    "OPTIONS": {"database": "default", "collection": "alerts", "machines_collection": "alert_machines"},
}
TELEMETRY_SERVICES["alerts"] = {
    "TOPIC": TELEMETRY_TOPIC,
    "GROUP_ID": env("ALERTS_GROUP_ID", "c40-equipment-alerts"),
    "CODEC": "telemetry",
    "VALIDATOR": "stream.validation.validate_telemetry",
    "HANDLER": "equipment_alerts.handlers.AlertHandler",
}
