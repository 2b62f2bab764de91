"""One settings module, read from the environment (see README "Configuration")."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from recordings_portal.lib.csp import DEFAULT_POLICY
from recordings_portal.lib.env import (
    ensure_local_secrets,
    envbool,
    envint,
    envlist,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = Path(os.environ.get("PORTAL_ENV_FILE", BASE_DIR / ".env"))
load_env_file(ENV_FILE)
ensure_local_secrets(ENV_FILE)

DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))
SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = envbool("DEBUG")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "template_partials",
    "recordings_portal.accounts",
    "recordings_portal.audit",
    "recordings_portal.vendors",
    "recordings_portal.catalog",
    "recordings_portal.compliance",
    "recordings_portal.api",
    "recordings_portal.dashboard",
    "recordings_portal.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "recordings_portal.lib.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "recordings_portal.audit.middleware.DeniedAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "recordings_portal.urls"
WSGI_APPLICATION = "recordings_portal.wsgi.application"

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
                "recordings_portal.accounts.context_processors.roles",
            ],
        },
    },
]

# --- Database: SQLite in the data folder unless DATABASE_URL says otherwise -----------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'portal.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # SQLite creates the file but not its folder, which a fresh clone does not have yet.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # A file, not memory, so a Celery worker process in the tests sees the test database;
    # one per test run, so two runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-portal-{os.getpid()}.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while a worker writes; IMMEDIATE avoids upgrade deadlocks.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, Celery, cache -------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = Path(os.environ.get("CELERY_BROKER_FOLDER", DATA_DIR / "broker"))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Longer than the longest task: Redis re-delivers unacknowledged tasks after it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 4 * 3600)
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # The embedded default: a broker in the data folder, so one machine needs no Redis.
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": float(os.environ.get("CELERY_POLLING_INTERVAL", 1)),
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queues: default, sync (catalog pages) and media (downloads), so a long download backlog
# never delays a sync page, and workers can be scaled per queue.
CELERY_TASK_ROUTES = {
    "recordings_portal.catalog.tasks.sync_account": {"queue": "sync"},
    "recordings_portal.catalog.tasks.download_recording": {"queue": "media"},
    "recordings_portal.compliance.tasks.mask_recording": {"queue": "media"},
}
# A download claim lapses after this long without a heartbeat (a worker died mid-download).
DOWNLOAD_LEASE_SECONDS = envint("DOWNLOAD_LEASE_SECONDS", 600)
DOWNLOAD_MAX_ATTEMPTS = envint("DOWNLOAD_MAX_ATTEMPTS", 5)
SYNC_MAX_ATTEMPTS = envint("SYNC_MAX_ATTEMPTS", 5)
# Capped exponential backoff between vendor retries: base doubles per attempt up to the cap.
RETRY_BASE_SECONDS = float(os.environ.get("RETRY_BASE_SECONDS", 5))
RETRY_CAP_SECONDS = float(os.environ.get("RETRY_CAP_SECONDS", 900))
WEBHOOK_MAX_BYTES = envint("WEBHOOK_MAX_BYTES", 256 * 1024)
# A running sync with no heartbeat for this long is taken to have lost its worker.
SYNC_STALE_SECONDS = envint("SYNC_STALE_SECONDS", 900)
CELERY_BEAT_SCHEDULE = {
    "sync-due-accounts": {
        "task": "recordings_portal.catalog.tasks.sync_due_accounts",
        "schedule": 60,
    },
    "recover-stalled-work": {
        "task": "recordings_portal.catalog.tasks.recover_stalled_work",
        "schedule": 300,
    },
    # Often enough that a sync marking the account healthy hides the warning only briefly.
    "watch-vendor-retention": {
        "task": "recordings_portal.catalog.tasks.watch_vendor_retention",
        "schedule": 900,
    },
    # Retention policies delete once a day, at night (TIME_ZONE), through the deletion service.
    "apply-retention": {
        "task": "recordings_portal.compliance.tasks.apply_retention",
        "schedule": crontab(hour=2, minute=30),
    },
    # Vendor deletions and maskings whose retry or worker was lost, and unfinished clean-ups.
    "recover-compliance-work": {
        "task": "recordings_portal.compliance.tasks.recover_compliance_work",
        "schedule": 300,
    },
}
# Tries at deleting or masking a vendor's copy before it shows as failed (then retry or give up).
VENDOR_CHANGE_MAX_ATTEMPTS = envint("VENDOR_CHANGE_MAX_ATTEMPTS", 8)
# Recordings one retention run deletes at most (the rest go the next night).
RETENTION_MAX_PER_RUN = envint("RETENTION_MAX_PER_RUN", 10000)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Storage --------------------------------------------------------------------------------
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
# Production behind nginx: after authorising a media request Django answers X-Accel-Redirect
# to this internal location (e.g. /protected-media/) and nginx sends the bytes and ranges.
# Empty: Django streams the files itself.
MEDIA_ACCEL_REDIRECT_PREFIX = os.environ.get("MEDIA_ACCEL_REDIRECT_PREFIX", "")
# Production behind nginx, for many listeners: nginx asks the portal whether a session may
# play a recording (auth_request) and may reuse a yes for this many seconds, per session and
# recording; a revoked permission or a sign-out then takes effect within that time.
# 0: the authorisation endpoint is off (404) and every audio request reaches Django.
MEDIA_AUTH_REQUEST_SECONDS = envint("MEDIA_AUTH_REQUEST_SECONDS", 0)
STORAGES = {
    # Recordings are never served from a public URL: the portal streams them after a check.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG

# --- Credentials encryption -----------------------------------------------------------------
# Comma-separated Fernet keys, newest first; older keys only decrypt (see rotate_encryption_keys).
FERNET_KEYS = envlist("FERNET_KEYS")
# Vendors live on the internet; allow private and loopback addresses only on purpose.
VENDOR_ALLOW_PRIVATE_NETWORKS = envbool("VENDOR_ALLOW_PRIVATE_NETWORKS")

# --- Accounts and sessions -------------------------------------------------------------------
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "accounts:login"
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# How long a set-password link handed to an invited user works (the portal sends no mail).
PASSWORD_RESET_TIMEOUT = envint("INVITE_LINK_SECONDS", 3 * 24 * 3600)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login throttling: django-axes locks a username from an address after repeated failures ---
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "recordings_portal.lib.client_ip.client_ip"

# --- HTTPS and headers (PORTAL_HTTPS=true behind TLS in production) -------------------------
HTTPS = envbool("PORTAL_HTTPS")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probes speak plain HTTP inside the network
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_PROXY") else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = os.environ.get("CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},  # one line per request drowns the useful ones
        "httpcore": {"level": "WARNING"},
    },
}
