"""Graylab settings: every knob comes from an environment variable.

Nothing set gives the embedded default (SQLite and a filesystem Celery broker under ``var/``,
``DEBUG`` on, a generated local secret kept in ``var/``). Parsing is strict: a malformed value
stops start-up with a message naming the variable.
"""

from __future__ import annotations

import re
import secrets
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from environs import Env, EnvError

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = Env()
env.read_env(str(BASE_DIR / ".env"), recurse=False)


def _fail(name: str, reason: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"Environment variable {name} is invalid: {reason}")


def _url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.str(name, default)
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise _fail(name, f"scheme must be one of {', '.join(schemes)}, got {value!r}")
    if parts.scheme in {"http", "https", "redis", "rediss", "amqp", "postgres", "postgresql"}:
        if not parts.hostname:
            raise _fail(name, f"no host in {value!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as error:
            raise _fail(name, str(error)) from error
    return value


try:
    DEBUG = env.bool("DEBUG", True)
    GRAYLAB_DATA_DIR = Path(env.str("GRAYLAB_DATA_DIR", str(VAR_DIR))).resolve()
    _default_db = f"sqlite:///{VAR_DIR / 'graylab.sqlite3'}"
    DATABASE_URL = _url("DATABASE_URL", _default_db, ("sqlite", "postgres", "postgresql"))
    DATABASES = {"default": env.dj_db_url("DATABASE_URL", _default_db, conn_max_age=60)}
    _default_broker = "filesystem://"
    CELERY_BROKER_URL = _url(
        "CELERY_BROKER_URL",
        _default_broker,
        ("filesystem", "redis", "rediss", "amqp", "pyamqp"),
    )
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
    CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", [])
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
    # Session and CSRF cookies only over HTTPS. The demo turns it off: it serves plain HTTP.
    SECURE_COOKIES = env.bool("SECURE_COOKIES", not DEBUG)
    # Model endpoint used by the demo and as the default for new endpoints.
    OPENAI_BASE_URL = _url("OPENAI_BASE_URL", "http://127.0.0.1:8765/v1", ("http", "https"))
    OPENAI_MODEL = env.str("OPENAI_MODEL", "graylab-offline")
    OPENAI_API_KEY_ENV = env.str("OPENAI_API_KEY_ENV", "OPENAI_API_KEY")
    OPENAI_TIMEOUT_SECONDS = env.float("OPENAI_TIMEOUT_SECONDS", 60.0)
    OFFLINE_MODEL_SERVER_PORT = env.int("OFFLINE_MODEL_SERVER_PORT", 8765)
    LOG_LEVEL = env.str("LOG_LEVEL", "INFO").upper()
    # Request bodies: the largest one read into memory (a multipart upload's files excepted)
    # and the deepest nesting accepted in JSON bodies and JSON/YAML policy documents.
    REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", 10 * 1024**2)
    JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", 64)
    # Import limits, checked while a file streams in (docs/formats.md, "Limits").
    IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", 200 * 1024**2)
    IMPORT_MAX_EXPANDED_BYTES = env.int("IMPORT_MAX_EXPANDED_BYTES", 1024**3)
    IMPORT_MAX_LINE_BYTES = env.int("IMPORT_MAX_LINE_BYTES", 1024**2)
    # Every worker sweeps the job tables this often (config/sweeper.py; 0 turns it off), and an
    # export whose worker has not reported for EXPORT_LEASE_SECONDS is run again elsewhere.
    GRAYLAB_SWEEP_SECONDS = env.float("GRAYLAB_SWEEP_SECONDS", 10.0)
    EXPORT_LEASE_SECONDS = env.float("EXPORT_LEASE_SECONDS", 120.0)
    # Uploads larger than this (once decompressed) import as a job on a worker; smaller ones
    # import inside the request. 0: every upload is a job.
    IMPORT_JOB_THRESHOLD_BYTES = env.int("IMPORT_JOB_THRESHOLD_BYTES", 1024**2)
    # Sign-in limits, shared by the log-in page, the admin log-in and the API token: at most
    # this many attempts per account and per client address within the window.
    SIGN_IN_ATTEMPTS_PER_WINDOW = env.int("SIGN_IN_ATTEMPTS_PER_WINDOW", 10)
    SIGN_IN_WINDOW_SECONDS = env.int("SIGN_IN_WINDOW_SECONDS", 60)
    # The header in which a trusted reverse proxy passes the client's address, and how many
    # trusted proxies append to it; unset, the header is never read (REMOTE_ADDR is the client).
    TRUSTED_PROXY_HEADER = env.str("TRUSTED_PROXY_HEADER", "")
    TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 1)
    # The variables a model endpoint may read its API key from: names, or prefixes ending in *;
    # by default also the one OPENAI_API_KEY_ENV names.
    _key_env_default = ["OPENAI_*", "GRAYLAB_ENDPOINT_*"]
    if not any(fnmatchcase(OPENAI_API_KEY_ENV, pattern) for pattern in _key_env_default):
        _key_env_default.append(OPENAI_API_KEY_ENV)
    ENDPOINT_API_KEY_ENV_ALLOWED: list[str] = env.list(
        "ENDPOINT_API_KEY_ENV_ALLOWED", _key_env_default
    )
    _secret = env.str("SECRET_KEY", "")
except EnvError as error:
    raise ImproperlyConfigured(str(error)) from error

if not ALLOWED_HOSTS or any(not host or " " in host for host in ALLOWED_HOSTS):
    raise _fail("ALLOWED_HOSTS", "must be a comma-separated list of one or more host names")
if not 1 <= OFFLINE_MODEL_SERVER_PORT <= 65535:
    raise _fail("OFFLINE_MODEL_SERVER_PORT", "must be between 1 and 65535")
if OPENAI_TIMEOUT_SECONDS <= 0:
    raise _fail("OPENAI_TIMEOUT_SECONDS", "must be positive")
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise _fail("LOG_LEVEL", f"unknown level {LOG_LEVEL!r}")
if not OPENAI_API_KEY_ENV.isidentifier():
    raise _fail("OPENAI_API_KEY_ENV", "must be the name of an environment variable")
if REQUEST_BODY_MAX_BYTES < 1024:
    raise _fail("REQUEST_BODY_MAX_BYTES", "must be at least 1024")
# Parsing, validation and orjson (255 levels) recurse per level: stay well below their limits.
if not 1 <= JSON_MAX_DEPTH <= 200:
    raise _fail("JSON_MAX_DEPTH", "must be between 1 and 200")
if SIGN_IN_ATTEMPTS_PER_WINDOW < 1:
    raise _fail("SIGN_IN_ATTEMPTS_PER_WINDOW", "must be at least 1")
if SIGN_IN_WINDOW_SECONDS < 1:
    raise _fail("SIGN_IN_WINDOW_SECONDS", "must be at least 1 second")
if TRUSTED_PROXY_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", TRUSTED_PROXY_HEADER):
    raise _fail("TRUSTED_PROXY_HEADER", "must be a header name such as X-Forwarded-For")
if TRUSTED_PROXY_COUNT < 1:
    raise _fail("TRUSTED_PROXY_COUNT", "must be at least 1")
for _pattern in ENDPOINT_API_KEY_ENV_ALLOWED:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\*?", _pattern):
        raise _fail(
            "ENDPOINT_API_KEY_ENV_ALLOWED",
            f"{_pattern!r} is neither a variable name nor a prefix ending in *",
        )
for _name in ("IMPORT_MAX_UPLOAD_BYTES", "IMPORT_MAX_EXPANDED_BYTES", "IMPORT_MAX_LINE_BYTES"):
    if globals()[_name] <= 0:
        raise _fail(_name, "must be a positive number of bytes")
if IMPORT_JOB_THRESHOLD_BYTES < 0:
    raise _fail("IMPORT_JOB_THRESHOLD_BYTES", "must be 0 or a positive number of bytes")
if IMPORT_MAX_LINE_BYTES > IMPORT_MAX_EXPANDED_BYTES:
    raise _fail("IMPORT_MAX_LINE_BYTES", "must not be larger than IMPORT_MAX_EXPANDED_BYTES")

if _secret:
    if len(_secret) < 50 and not DEBUG:
        raise _fail("SECRET_KEY", "must be at least 50 characters in production")
    SECRET_KEY = _secret
elif DEBUG:
    # Embedded default: a local secret generated once and kept beside the SQLite database.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _secret_file = VAR_DIR / "secret_key"
    if not _secret_file.exists():
        _secret_file.write_text(secrets.token_urlsafe(64))
        _secret_file.chmod(0o600)
    SECRET_KEY = _secret_file.read_text().strip()
else:
    raise _fail("SECRET_KEY", "must be set when DEBUG is off")

USES_EMBEDDED_BROKER = CELERY_BROKER_URL.startswith("filesystem://")
TESTING = "pytest" in sys.modules
INSTALLED_APPS = [
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
    "django_htmx",
    "template_partials",
    "csp",
    "config.apps.GraylabConfig",
    "accounts",
    "presentation.apps.PresentationConfig",
    "policy",
    "labeling",
    "exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Above the session and auth middleware: their database lookups fail during an outage too.
    "presentation.middleware.DatabaseUnavailableMiddleware",
    # Before any view (and any session lookup) reads a body: size and JSON depth limits.
    "presentation.middleware.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    # Times show in the zone the viewer's browser reported (cookie set by static/js/graylab.js).
    "presentation.timezones.ViewerTimeZoneMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "accounts.navigation.navigation",
            ],
        },
    }
]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the demo's web server and worker read while the other writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Separate names let several test runs share one PostgreSQL server.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
        "TEST_DATABASE_NAME", "test_graylab"
    )

# Django's model backend behind the shared sign-in limits (accounts/services.py). The plain
# ModelBackend is listed only so that sessions signed in through it stay valid: the first one
# settles every password check (accounts/backends.py).
AUTHENTICATION_BACKENDS = [
    "accounts.backends.ThrottledModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Tests create many users; a fast hasher keeps fixtures quick (never used outside tests).
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = GRAYLAB_DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = GRAYLAB_DATA_DIR / "uploads"
EXPORTS_DIR = GRAYLAB_DATA_DIR / "exports"
# Full problem lists of failed imports (CSV), one folder per user, kept for a day.
IMPORT_PROBLEMS_DIR = GRAYLAB_DATA_DIR / "import-problems"
# Uploads waiting for (or being read by) an import job; each is removed when its job ends.
IMPORT_UPLOADS_DIR = GRAYLAB_DATA_DIR / "import-uploads"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES

# Security: cookies and headers. Production (DEBUG off) passes ``check --deploy``.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: no inline script anywhere; model output cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "presentation.pagination.Pagination",
    "EXCEPTION_HANDLER": "presentation.api_errors.api_exception_handler",
    # JSON with size and depth limits; views that take uploads list their own parsers.
    "DEFAULT_PARSER_CLASSES": [
        "presentation.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", "60/min"),
        "user": env.str("API_THROTTLE_USER", "100000/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Graylab API",
    "DESCRIPTION": "Policy taxonomy, campaigns, generation, annotation and exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "labeling.models.campaigns.Campaign.Status",
        "RunStatusEnum": "labeling.models.runs.RunStatus",
        "PlannedRowStatusEnum": "labeling.models.runs.PlannedRowStatus",
        "ExportStatusEnum": "exports.models.Export.Status",
        "ImportJobStatusEnum": "labeling.models.imports.ImportJob.Status",
        "ConsensusRunStatusEnum": "labeling.models.quality.ConsensusRun.Status",
        "ConsensusFieldEnum": "labeling.quality.consensus.CONSENSUS_FIELDS",
    },
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: JSON only, late acknowledgement and prefetch 1 so a dead worker's task is redelivered,
# four queues so long generation and grading work never starves exports or housekeeping.
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ("default", "generation", "grading", "exports")
CELERY_TASK_ROUTES = {
    "labeling.generation.*": {"queue": "generation"},
    "labeling.grading.*": {"queue": "grading"},
    "exports.*": {"queue": "exports"},
    "labeling.imports.*": {"queue": "default"},
}
# Results are only kept where a caller waits for them (health probes, tests, ``--wait``).
CELERY_RESULT_BACKEND = (
    f"file://{VAR_DIR / 'celery-results'}" if USES_EMBEDDED_BROKER else CELERY_BROKER_URL
)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 3600)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker outlives any broker outage: it reconnects for as long as it takes (Celery's default
# gives up, and the worker exits, after 100 attempts). What the broker lost, the sweep resends.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
if USES_EMBEDDED_BROKER:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("in", "processed", "control", "../celery-results"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Socket timeouts and a periodic health check make a worker notice a dead broker connection
    # within seconds instead of waiting on it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        # A 403 or 400 is logged as one line, without the traceback Django attaches to it.
        "client_error_without_traceback": {
            "()": "presentation.log_filters.ClientErrorWithoutTraceback"
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "django.request": {"filters": ["client_error_without_traceback"]},
    },
}
