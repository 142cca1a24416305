"""The settings; every knob comes from the environment (see .env.example). Reading it lives in
settings_env.py, the identity block in settings_identity.py, the collectors in settings_collectors.py
(both star-imported below).

With DEBUG=False a missing required variable stops start-up with one line naming it; every
configuration problem is a system check (hashinsight/checks.py), listed together by
`manage.py check --deploy`.
"""

import logging
import os
import sys

from core.logging import configure_logging
from hashinsight import settings_env
from hashinsight.settings_collectors import *  # noqa: F403 -- collectors and their edge (tokens, rates, mTLS)
from hashinsight.settings_env import (
    BASE_DIR,
    DEBUG,
    TESTING,
    _bool,
    _float,
    _int,
    _required,
    db_url_config,
    env,
    process_role,
)
from hashinsight.settings_identity import *  # noqa: F403 -- the identity block (allauth, MFA, lockout, OIDC)

# Problems found while reading the environment, reported as system checks (hashinsight/checks.py).
CONFIG_ERRORS = settings_env.CONFIG_ERRORS


SECRET_KEY = _required("SECRET_KEY")
ALLOWED_HOSTS = [h.strip() for h in _required("ALLOWED_HOSTS").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "hashinsight.apps.HashInsightAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "guardian",
    "pgtrigger",
    "django_structlog",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "hashinsight.ops",
    "audit",
    "tenants",
    "telemetry",
    "control",
    "hosting",
    "rules",
    "portal",
    "verification",
]

MIDDLEWARE = [
    "hashinsight.ops.middleware.RequestIdHeaderMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "hashinsight.ops.middleware.ProbeMiddleware",
    "core.api.parsers.NulFreeQueryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "tenants.mfa.MfaRequiredMiddleware",
    "hashinsight.ops.middleware.MetricsMiddleware",
    # Last: wraps the view alone, so a run the replica failed is re-run on the primary (core/replica.py).
    "core.replica.ReplicaReadMiddleware",
]

ROOT_URLCONF = "hashinsight.urls"
WSGI_APPLICATION = "hashinsight.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# Celery worker and beat hold session-level advisory locks (core/periodic.py, the quarantine drain,
# evidence packs) that a transaction-pooling PgBouncer cannot keep: they, and manage.py commands,
# connect to DATABASE_DIRECT_URL (PostgreSQL itself) when it is set; web to DATABASE_URL. A worker
# or beat that would still reach a transaction pooler refuses to start (hashinsight/startup.py).
PROCESS_ROLE = process_role(sys.argv)
DATABASE_DIRECT_URL = env.str("DATABASE_DIRECT_URL", default="")
_DATABASE_URL = _required("DATABASE_URL")
_DIRECT = bool(PROCESS_ROLE and DATABASE_DIRECT_URL)
# Every alias gets libpq's connect_timeout (DB_CONNECT_TIMEOUT_SEC; settings_env.db_url_config).
DATABASES = {"default": db_url_config(DATABASE_DIRECT_URL if _DIRECT else _DATABASE_URL)}
# Persistent connections: web workers × CONN_MAX_AGE connections stay open; see docs/DEPLOYMENT.md
# for the connection budget (PostgreSQL allows 100 here).
DATABASES["default"]["CONN_MAX_AGE"] = _int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Behind PgBouncer in transaction pooling mode a named (server-side) cursor cannot outlive its
# transaction's server connection: True makes .iterator() fetch client-side (docs/DEPLOYMENT.md).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = _bool("DB_DISABLE_SERVER_SIDE_CURSORS", default=False)
# A streaming replica for portal and report reads (core/replica.py). Unset: every read on the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **db_url_config(DATABASE_REPLICA_URL),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
# Replica reads fall back to the primary when its replay is more than this many seconds behind;
# the lag is measured at most once per REPLICA_LAG_CHECK_SEC per process.
REPLICA_MAX_LAG_SEC = _float("REPLICA_MAX_LAG_SEC", default=30.0)
REPLICA_LAG_CHECK_SEC = _float("REPLICA_LAG_CHECK_SEC", default=5.0)
# GET/HEAD requests under these paths read inside the replica scope (ReplicaReadMiddleware).
REPLICA_READ_PATHS = env.list(
    "REPLICA_READ_PATHS", default=["/portal/", "/api/v1/portal/", "/api/v1/hosting/sla_report"]
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Tests use their own Redis database (15): the suite flushes it between tests.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/15" if TESTING else "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Tests run against the same Redis as a running dev server: keep their keys apart.
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="hi-test" if TESTING else "hi"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]  # tests only: hashing speed, not security
    if TESTING
    else ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
)

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    # django-guardian: user.has_perm(perm, obj) reads the mirror of live object grants (tenants.object_grants).
    "guardian.backends.ObjectPermissionBackend",
]
# No guardian "AnonymousUser" row: anonymous requests hold no object permission.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not TESTING
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # A personal token first: a request bearing one is that token's, even beside a session cookie.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.token_auth.PersonalTokenAuthentication",
        "core.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies with NUL characters dropped (core/api/parsers.py), then DRF's form parsers.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HashInsight Cloud API",
    "DESCRIPTION": "Collector (edge), operator and customer APIs. Legacy paths are deprecated, never removed.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set used under several field names (status / to, state / status).
    # Request components of their own (…Request): a field required or non-blank on input says so.
    "COMPONENT_SPLIT_REQUEST": True,
    # The enum names first (drf-spectacular's default hook), then every error answer with its body.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api.openapi.document_errors"],
    "ENUM_NAME_OVERRIDES": {
        "WorkOrderStatusEnum": "hosting.models.work_orders.WorkOrderStatus",
        "AlertStateEnum": "hosting.models.alerts.AlertState",
        "CommandTypeEnum": "control.api_fields.CREATE_NAMES",
        "OriginalCommandTypeEnum": "control.legacy_v1_shapes.NAMES_IN",
    },
}

# The longest a personal API token may live (SPEC §3); every token has an expiry, chosen at creation.
PERSONAL_TOKEN_MAX_DAYS = _int("PERSONAL_TOKEN_MAX_DAYS", default=90)

# --- audit -------------------------------------------------------------------------------------
AUDIT_RETENTION_DAYS = _int("AUDIT_RETENTION_DAYS", default=365)  # 90, 365 or 2555 (hashinsight.E002)

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL = _required("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
# A worker process killed mid-task (kill -9, the OOM killer) puts the message back on the queue
# instead of acknowledging it: with acks_late, the task runs again (every task is idempotent).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A message taken by a worker that died whole (kill -9 of the main process and its pool, the box
# lost: no process left to reject it) stays unacknowledged in Redis; any running worker puts it
# back on its queue once it is CELERY_VISIBILITY_TIMEOUT_SEC old, looking every
# CELERY_UNACKED_RESTORE_SEC (kombu's Redis transport). 900 s is 20x the slowest pack build
# measured (45 s, docs/EVIDENCE_PACK.md): shorter brings a lost pack back sooner, but a task still
# running past it is delivered a second time (harmless — the pack's and the periodic jobs' advisory
# locks make the copy a no-op — but it takes a worker slot). docs/DEPLOYMENT.md "Processes".
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _int("CELERY_VISIBILITY_TIMEOUT_SEC", default=900),
    "unacked_restore_interval": _int("CELERY_UNACKED_RESTORE_SEC", default=60),
    "unacked_restore_throttle": 1,  # look at every interval (kombu's default: every 10th)
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Keep a crash traceback in one JSON log line instead of one line per printed fragment.
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_BEAT_SCHEDULER = "hashinsight.ops.beat:TickRecordingScheduler"
# Two queues, each with its own worker (Procfile `worker` and `worker-reports`): ingest-side work
# (rollups, rule passes, the command queue's jobs, quarantine drains, heartbeats) never waits behind
# a long evidence pack build. Everything not named goes to "ingest" (docs/DEPLOYMENT.md).
CELERY_QUEUE_INGEST, CELERY_QUEUE_REPORTS = "ingest", "reports"
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_INGEST
CELERY_TASK_ROUTES = {
    "hosting.evidence_pack_build": {"queue": CELERY_QUEUE_REPORTS},
    "*": {"queue": CELERY_QUEUE_INGEST},
}
HEALTH_HEARTBEAT_MAX_AGE_SEC = _int("HEALTH_HEARTBEAT_MAX_AGE_SEC", default=120)

# --- metrics -------------------------------------------------------------------------------------
# gunicorn workers write metric files here (prometheus-client multiprocess mode).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if not PROMETHEUS_MULTIPROC_DIR:
    # Set but empty (`PROMETHEUS_MULTIPROC_DIR=` in .env): prometheus-client would take it for
    # multiprocess mode in the current directory and leave *.db files wherever manage.py runs.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
# When set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Functions called on each /metrics scrape to refresh gauges computed from the database.
METRICS_SCRAPE_HOOKS = ["control.metrics.queue_lag_refresh", "rules.metrics.alerts_firing_refresh"]

# --- security ----------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", default=not (DEBUG or TESTING))
SECURE_REDIRECT_EXEMPT = [r"^health", r"^ready$", r"^alive$", r"^metrics$"]
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading is a commitment for the whole domain that is slow to undo (and meaningless for
# on-prem host names): an operator opts in with SECURE_HSTS_PRELOAD=True, so no warning without it.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = _int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=16 * 1024 * 1024)

# --- hosting -------------------------------------------------------------------------------------
# Downtime intervals (docs/DOWNTIME.md): a pass every DOWNTIME_INTERVAL_SEC over the minutes that
# ended DOWNTIME_GRACE_SEC ago; online below DOWNTIME_ZERO_HASHRATE_PCT of nominal is zero hashrate.
DOWNTIME_INTERVAL_SEC = _int("DOWNTIME_INTERVAL_SEC", default=60)
DOWNTIME_GRACE_SEC = _int("DOWNTIME_GRACE_SEC", default=120)
DOWNTIME_ZERO_HASHRATE_PCT = _float("DOWNTIME_ZERO_HASHRATE_PCT", default=5.0)
DOWNTIME_FIRST_PASS_MINUTES = _int("DOWNTIME_FIRST_PASS_MINUTES", default=60)
DOWNTIME_MAX_PASS_MINUTES = _int("DOWNTIME_MAX_PASS_MINUTES", default=360)
DOWNTIME_MAX_REWIND_HOURS = _int("DOWNTIME_MAX_REWIND_HOURS", default=48)
# The longest period one SLA report may cover (docs/REPORTS.md): bounded work per request.
SLA_REPORT_MAX_DAYS = _int("SLA_REPORT_MAX_DAYS", default=400)
# Seconds GET /api/v1/portal/my-reports keeps a tenant's last-full-month SLA summary (0 = rebuild on
# every call; docs/PORTAL.md has the cost at 5,000 miners).
PORTAL_MY_REPORTS_CACHE_SEC = _int("PORTAL_MY_REPORTS_CACHE_SEC", default=900)
# How often the collector-dark job looks for collectors silent longer than TELEMETRY_STALE_SEC
# (the same threshold that makes their miners "unknown"): one site alert each, resolved on resume.
COLLECTOR_DARK_INTERVAL_SEC = _int("COLLECTOR_DARK_INTERVAL_SEC", default=60)
# Evidence packs (docs/EVIDENCE_PACK.md): the longest period one pack may cover; periods up to
# EVIDENCE_PACK_SYNC_MAX_HOURS are built in the request and returned at once, longer ones by a worker.
EVIDENCE_PACK_MAX_DAYS = _int("EVIDENCE_PACK_MAX_DAYS", default=93)
EVIDENCE_PACK_SYNC_MAX_HOURS = _int("EVIDENCE_PACK_SYNC_MAX_HOURS", default=24)
# Metric snapshots come from the finest tier (1m, 15m, daily) with at most this many rows for the pack.
EVIDENCE_PACK_METRIC_ROWS = _int("EVIDENCE_PACK_METRIC_ROWS", default=2_000_000)
# The STORAGES alias packs are stored in: "default" (MEDIA_ROOT on the filesystem) unless STORAGES
# names an S3-compatible backend under another alias.
EVIDENCE_PACK_STORAGE = env.str("EVIDENCE_PACK_STORAGE", default="default")

# --- logging -----------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # json | console
LOGGING_CONFIG = None
# The request id comes from RequestIdHeaderMiddleware (which vets an incoming X-Request-ID);
# one line per request: request_started only at DEBUG, request_finished/failed at INFO+.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
configure_logging(level=LOG_LEVEL, fmt=LOG_FORMAT)

# Periodic jobs, declared here; the DB scheduler copies them into django-celery-beat at start.
CELERY_BEAT_SCHEDULE = {
    "ops.heartbeat": {"task": "ops.heartbeat", "schedule": 30.0},
    "audit.seal_segments": {"task": "audit.seal_segments", "schedule": 3600.0},
    "audit.purge_expired": {"task": "audit.purge_expired", "schedule": 3600.0},
    "telemetry.rollup": {"task": "telemetry.rollup", "schedule": 60.0},
    "telemetry.retention": {"task": "telemetry.retention", "schedule": 3600.0},
    "telemetry.quarantine_drain": {"task": "telemetry.quarantine_drain", "schedule": 300.0},
    "tenants.object_grants_expire": {"task": "tenants.object_grants_expire", "schedule": 60.0},
}

# --- telemetry -----------------------------------------------------------------------------------
TELEMETRY_RAW_RETENTION_DAYS = _int("TELEMETRY_RAW_RETENTION_DAYS", default=3)
TELEMETRY_1M_RETENTION_DAYS = _int("TELEMETRY_1M_RETENTION_DAYS", default=45)
TELEMETRY_15M_RETENTION_DAYS = _int("TELEMETRY_15M_RETENTION_DAYS", default=730)
TELEMETRY_DAILY_RETENTION_DAYS = _int("TELEMETRY_DAILY_RETENTION_DAYS", default=2555)
TELEMETRY_PARTITIONS_AHEAD_DAYS = _int("TELEMETRY_PARTITIONS_AHEAD_DAYS", default=3)
# 15m/daily buckets close (are rolled up) this long after their end; later 1m changes are corrections.
TELEMETRY_ROLLUP_GRACE_SEC = _int("TELEMETRY_ROLLUP_GRACE_SEC", default=120)
# Each rollup run re-reads 1m changes from this long before the previous run (late commits, clock skew).
TELEMETRY_ROLLUP_OVERLAP_SEC = _int("TELEMETRY_ROLLUP_OVERLAP_SEC", default=120)
# Rows per DELETE when retention purges 15m/daily rows and ingest receipts.
TELEMETRY_RETENTION_BATCH_SIZE = _int("TELEMETRY_RETENTION_BATCH_SIZE", default=10000)
# A miner is online while its last sample says so and is younger than this; a site whose
# collectors all stayed silent this long is "unknown" (unmeasured), not down.
TELEMETRY_STALE_SEC = _int("TELEMETRY_STALE_SEC", default=300)
# Samples further ahead of the server clock are rejected (FUTURE_TIMESTAMP).
TELEMETRY_MAX_FUTURE_SEC = _int("TELEMETRY_MAX_FUTURE_SEC", default=300)
# Upload size caps: compressed body, and decompressed output (a gzip bomb gets 413).
TELEMETRY_MAX_BODY_BYTES = _int("TELEMETRY_MAX_BODY_BYTES", default=16 * 1024 * 1024)
TELEMETRY_MAX_DECOMPRESSED_BYTES = _int("TELEMETRY_MAX_DECOMPRESSED_BYTES", default=64 * 1024 * 1024)
# Registration of unknown miners on first sight (an upload naming a miner the site does not have):
# at most this many per upload, and none once the site holds this many miners in all. Records of
# the miners refused are rejected (MINER_REGISTRATION_LIMIT) and one site alert is raised.
MINER_AUTO_REGISTER_MAX_PER_UPLOAD = _int("MINER_AUTO_REGISTER_MAX_PER_UPLOAD", default=5000)
MINER_AUTO_REGISTER_MAX_PER_SITE = _int("MINER_AUTO_REGISTER_MAX_PER_SITE", default=10000)
# Encrypted uploads that arrive before their collector's payload key are held (quarantined) up to
# these limits per collector; beyond them the upload is refused (429 QUARANTINE_FULL) and the
# collector keeps it in its spool.
TELEMETRY_QUARANTINE_MAX_BATCHES = _int("TELEMETRY_QUARANTINE_MAX_BATCHES", default=2000)
TELEMETRY_QUARANTINE_MAX_BYTES = _int("TELEMETRY_QUARANTINE_MAX_BYTES", default=512 * 1024 * 1024)

# --- control: command creation, approval and guardrails (operator side) ----------------------------
# TTL of a command once queued (seconds), and the most a caller may ask for.
COMMAND_DEFAULT_TTL_SEC = _int("COMMAND_DEFAULT_TTL_SEC", default=900)
COMMAND_MAX_TTL_SEC = _int("COMMAND_MAX_TTL_SEC", default=86400)
# A proposed command not approved within this many seconds expires.
COMMAND_APPROVAL_TTL_SEC = _int("COMMAND_APPROVAL_TTL_SEC", default=3600)
# Approval is needed for batches over this many miners, or an estimated power impact over this many kW.
COMMAND_APPROVAL_BATCH_MINERS = _int("COMMAND_APPROVAL_BATCH_MINERS", default=20)
COMMAND_APPROVAL_KW = _float("COMMAND_APPROVAL_KW", default=100.0)
# Largest batch one request may expand to.
COMMAND_BATCH_MAX_MINERS = _int("COMMAND_BATCH_MAX_MINERS", default=5000)
# Rate limit per (site, command_type): "type=limit/window_sec,…"; types not named are unlimited.
COMMAND_RATE_LIMITS = env.str(
    "COMMAND_RATE_LIMITS",
    default="reboot=50/300,disable_hashing=200/300,enable_hashing=200/300,power_off=50/300,power_on=50/300,"
    "set_frequency=500/300,set_fan=500/300,set_pool=500/300",
)
# Blast radius: at most this share (%) of a site's miners may have an active reboot / disable_hashing /
# power_off command at once (never fewer than COMMAND_BLAST_RADIUS_MIN_MINERS miners).
COMMAND_BLAST_RADIUS_PCT = _float("COMMAND_BLAST_RADIUS_PCT", default=20.0)
COMMAND_BLAST_RADIUS_MIN_MINERS = _int("COMMAND_BLAST_RADIUS_MIN_MINERS", default=1)
# Refused customer proposals (another tenant's miner, a site not theirs, a type the policy does not
# allow) per user, as a DRF rate ("" = off); past it 429 RATE_LIMITED, not audited (docs/SECURITY.md).
PROPOSAL_REFUSAL_RATE = env.str("PROPOSAL_REFUSAL_RATE", default="20/hour")

# --- control: command queue, edge channel (poll, ACK, lease expiry, verification) ---------------
# A leased command not ACKed within this many seconds goes back to the queue (same wire id).
COMMAND_LEASE_SEC = _int("COMMAND_LEASE_SEC", default=60)
# Commands handed out per poll: default, and the most a `?limit=` may ask for.
COMMAND_POLL_LIMIT = _int("COMMAND_POLL_LIMIT", default=50)
COMMAND_POLL_MAX = _int("COMMAND_POLL_MAX", default=100)
# Leases one command may get in all (re-dispatches after lapses included) before it expires.
COMMAND_MAX_LEASES = _int("COMMAND_MAX_LEASES", default=10)
# Largest ACK body accepted, bytes.
COMMAND_ACK_MAX_BYTES = _int("COMMAND_ACK_MAX_BYTES", default=1024 * 1024)
COMMAND_EXPIRY_INTERVAL_SEC = _int("COMMAND_EXPIRY_INTERVAL_SEC", default=15)
COMMAND_VERIFY_INTERVAL_SEC = _int("COMMAND_VERIFY_INTERVAL_SEC", default=30)
# Curtailments (SPEC §6.3): how often the tick starts and ends them, the minutes before a start
# its kW baseline is averaged over, and the TTL of the enable_hashing commands at its end.
CURTAILMENT_TICK_INTERVAL_SEC = _int("CURTAILMENT_TICK_INTERVAL_SEC", default=60)
CURTAILMENT_BASELINE_MIN = _int("CURTAILMENT_BASELINE_MIN", default=15)
CURTAILMENT_ENABLE_TTL_SEC = _int("CURTAILMENT_ENABLE_TTL_SEC", default=3600)
CELERY_BEAT_SCHEDULE |= {
    "control.curtailment_tick": {"task": "control.curtailment_tick", "schedule": float(CURTAILMENT_TICK_INTERVAL_SEC)},
    "control.commands_expire_due": {
        "task": "control.commands_expire_due",
        "schedule": float(COMMAND_EXPIRY_INTERVAL_SEC),
    },
    "control.commands_verify_due": {
        "task": "control.commands_verify_due",
        "schedule": float(COMMAND_VERIFY_INTERVAL_SEC),
    },
    "control.proposals_expire": {"task": "control.proposals_expire", "schedule": float(COMMAND_EXPIRY_INTERVAL_SEC)},
}
CELERY_BEAT_SCHEDULE |= {
    "hosting.downtime": {"task": "hosting.downtime", "schedule": float(DOWNTIME_INTERVAL_SEC)},
    "hosting.collectors_dark": {"task": "hosting.collectors_dark", "schedule": float(COLLECTOR_DARK_INTERVAL_SEC)},
}
# --- rules ---------------------------------------------------------------------------------------
# One rule pass every RULES_EVAL_INTERVAL_SEC (SPEC §7: 30–120 s), once cluster-wide.
RULES_EVAL_INTERVAL_SEC = _int("RULES_EVAL_INTERVAL_SEC", default=60)
# The beat's pass is split into one task per this many sites, run by however many workers there are
# (0: the beat task runs every site itself).
RULES_EVAL_SITES_PER_TASK = _int("RULES_EVAL_SITES_PER_TASK", default=10)
CELERY_BEAT_SCHEDULE |= {
    "rules.evaluate": {"task": "rules.evaluate", "schedule": float(RULES_EVAL_INTERVAL_SEC)},
}
# The legacy thermal config's throttle: set_frequency to THERMAL_BASE_FREQUENCY_MHZ × throttle % (the
# original application's fixed 600 MHz base), and back to the base on recovery (docs/RULES.md).
THERMAL_BASE_FREQUENCY_MHZ = _int("THERMAL_BASE_FREQUENCY_MHZ", default=600)
# A miner_stale alert open this many minutes gets one work order, linked to it (0 = never).
RULES_STALE_WORK_ORDER_MIN = _int("RULES_STALE_WORK_ORDER_MIN", default=0)
# The longest period one backtest (a rule replayed over the 1-minute tier) may cover; longer → 400.
RULES_BACKTEST_MAX_DAYS = _int("RULES_BACKTEST_MAX_DAYS", default=31)
