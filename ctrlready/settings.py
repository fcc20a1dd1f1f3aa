"""ctrlready settings, read from the environment (and an optional `.env` file).

With no settings at all the project runs for local use: SQLite and a Celery
broker on the filesystem.  Production sets SECRET_KEY, DEBUG=0, DATABASE_URL,
REDIS_URL and CTRLREADY_SECRET_KEYS.
"""

import os
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.utils.csp import CSP
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def envlist(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = envbool("DEBUG", default=not os.environ.get("SECRET_KEY"))
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "axes",
    "core",
    "checklists",
    "probes",
    "notify",
    "demo",
]

MIDDLEWARE = [
    # First: a body over CTRLREADY_MAX_REQUEST_BYTES is refused before anything reads it.
    "ctrlready.limits.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ctrlready.logging.RequestIdMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: answers a password sign-in refused for too many failures (see "Sign-in" below).
    "axes.middleware.AxesMiddleware",
]

# WhiteNoise serves static files under gunicorn: from STATIC_ROOT (collectstatic) in production,
# straight from the apps' folders while DEBUG is on.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "whitenoise.middleware.WhiteNoiseMiddleware")
# Pages are compressed (a 229-item deployment page: ~400 KB, ~30 KB gzipped); Django's GZipMiddleware pads
# each answer with random bytes (its BREACH mitigation), so a secret on the page cannot be guessed from sizes.
MIDDLEWARE.insert(MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1, "django.middleware.gzip.GZipMiddleware")
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

ROOT_URLCONF = "ctrlready.urls"
WSGI_APPLICATION = "ctrlready.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
    {
        # Only the deployment page's item rows, rendered thousands of times a page (checklists/views/rows.py).
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "ctrlready.jinja.environment"},
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=envint("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for the writer instead of failing with "database is locked" while
    # the web process and the worker share the local file.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Sign-in -----------------------------------------------------------------
# Local passwords (kept for break-glass admins) unless switched off; then single sign-on alone.
CTRLREADY_PASSWORD_LOGIN = envbool("CTRLREADY_PASSWORD_LOGIN", True)
# Single sign-on with OpenID Connect (ctrlready/sso.py): on when an issuer and a client are set.
OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "").strip().rstrip("/")
OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "").strip()
OIDC_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "").strip()
OIDC_ROLES_CLAIM = os.environ.get("OIDC_ROLES_CLAIM", "").strip() or "groups"
# The scopes asked for: the roles claim usually needs its own scope (`groups` at most providers).
OIDC_SCOPES = os.environ.get("OIDC_SCOPES", "").strip() or "openid email profile groups"
AUTHENTICATION_BACKENDS = [
    # Refuses a password sign-in while its username is locked out from that address (django-axes).
    "ctrlready.accounts.LoginThrottleBackend",
    "ctrlready.accounts.PasswordBackend",
    "ctrlready.sso.OIDCBackend",
]
# Login throttling: this many failed password sign-ins within 15 minutes lock that username from that
# address for 15 minutes after the last one. Lifted early by deleting the "access attempt" in the Django
# admin, or with `manage.py axes_reset_username USERNAME`.
CTRLREADY_LOGIN_ATTEMPTS = envint("CTRLREADY_LOGIN_ATTEMPTS", 5)
# How many proxies in front of ctrlready append to X-Forwarded-For; 0 (the default) trusts no such header
# and takes the connection's address. With N, the client is the N-th address from the right.
CTRLREADY_PROXY_HOPS = envint("CTRLREADY_PROXY_HOPS", 0)
AXES_FAILURE_LIMIT = CTRLREADY_LOGIN_ATTEMPTS
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A refused attempt during a lockout does not push the lockout further: the time the sentence names holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "ctrlready.accounts.client_ip"
AXES_WHITELIST_CALLABLE = "ctrlready.accounts.not_a_password_sign_in"
AXES_LOCKOUT_CALLABLE = "ctrlready.accounts.locked_out"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Uploads: the checklist importer refuses files over 2 MB with its own message; a request body over
# CTRLREADY_MAX_REQUEST_BYTES (4 MB: a 2 MB file, base64 or JSON-escaped, and the form around it) is
# refused before it is read (ctrlready/limits.py). Set the same limit in the proxy in front.
CTRLREADY_MAX_REQUEST_BYTES = envint("CTRLREADY_MAX_REQUEST_BYTES", 4 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = CTRLREADY_MAX_REQUEST_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = CTRLREADY_MAX_REQUEST_BYTES

if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (Django's own middleware). Scripts and <style> elements come from this site
# or carry the request's nonce; nothing is loaded from elsewhere; images only from here (Markdown
# images from other origins are rendered as links). No inline style attribute either: progress bars
# are SVG and an outline's depth is a class (`.depth-N`).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}

# --- Celery ---------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_DIR = BASE_DIR / "var" / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
# Several installations (or test runs) can share one Redis by using their own queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CTRLREADY_QUEUE", "ctrlready")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One quick retry reconnects a pooled connection that went stale while Redis restarted.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CTRLREADY_RECHECK_MINUTES = envint("CTRLREADY_RECHECK_MINUTES", 15)
# A new deployment's probes are queued as soon as it is created (not only at beat's next re-check).
CTRLREADY_RUN_ON_CREATE = envbool("CTRLREADY_RUN_ON_CREATE", True)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-runs": {"task": "probes.sweep_stuck_runs", "schedule": float(envint("CTRLREADY_SWEEP_SECONDS", 60))},
    "prune-runs": {"task": "probes.prune_runs", "schedule": 3600.0},
    "send-reminders": {"task": "checklists.send_reminders", "schedule": 60.0},
    "note-stale-results": {"task": "probes.note_stale_results", "schedule": float(envint("CTRLREADY_SWEEP_SECONDS", 60))},
    "sweep-deliveries": {"task": "notify.sweep_deliveries", "schedule": 30.0},
    "recheck-open-deployments": {
        "task": "probes.recheck_open_deployments",
        "schedule": 60.0 * CTRLREADY_RECHECK_MINUTES,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")

# --- ctrlready ------------------------------------------------------------
CTRLREADY_SECRET_KEYS = envlist("CTRLREADY_SECRET_KEYS")
CTRLREADY_RESULT_TTL_MINUTES = envint("CTRLREADY_RESULT_TTL_MINUTES", 60)
CTRLREADY_PREVENT_SELF_SIGNOFF = envbool("CTRLREADY_PREVENT_SELF_SIGNOFF", False)
# A waiver of a required item is `proposed` (it still blocks) until a second lead approves it.
CTRLREADY_WAIVER_APPROVAL = envbool("CTRLREADY_WAIVER_APPROVAL", False)
# The schedule appends one `due_soon` to a deployment due within this many hours while anything blocks.
CTRLREADY_DUE_SOON_HOURS = envint("CTRLREADY_DUE_SOON_HOURS", 24)
# A checklist version holds at most this many items (children included); a larger import is refused.
CTRLREADY_MAX_ITEMS = envint("CTRLREADY_MAX_ITEMS", 5000)
# A run that is still `queued`/`running` this long after its probe's limit is ended by the sweep.
CTRLREADY_RUN_GRACE_SECONDS = envint("CTRLREADY_RUN_GRACE_SECONDS", 60)
# Probes of one deployment run together, this many per task (one event loop, one HTTP client, one SSH connection).
CTRLREADY_PROBE_BATCH_SIZE = envint("CTRLREADY_PROBE_BATCH_SIZE", 250)
# Per item of a deployment, the latest this many runs are kept (and every run that changed its state).
CTRLREADY_RUNS_KEPT = envint("CTRLREADY_RUNS_KEPT", 20)
# The hard time limit of one probe task never exceeds this; Redis's visibility timeout must stay above it.
CTRLREADY_MAX_TASK_SECONDS = 900

# --- Notifications ---------------------------------------------------------
# Who hears of each appended event, in its transaction (core.events): the outbox writes the deliveries.
CTRLREADY_EVENT_LISTENERS = ["notify.outbox.outbox_write"]
# What else `secrets_rotate()` re-encrypts: webhook secrets and Slack URLs.
CTRLREADY_SECRET_ROTATORS = ["notify.services.subscription_secrets_rotate"]
CTRLREADY_DELIVERY_ATTEMPTS = envint("CTRLREADY_DELIVERY_ATTEMPTS", 8)
# The n-th retry waits about this × 3^(n−1) seconds, with jitter (a fraction is allowed, for tests).
CTRLREADY_DELIVERY_BACKOFF_SECONDS = float(os.environ.get("CTRLREADY_DELIVERY_BACKOFF_SECONDS", "").strip() or 10)
# Webhook and Slack targets on private or loopback addresses are refused unless this is on.
CTRLREADY_WEBHOOK_ALLOW_PRIVATE = envbool("CTRLREADY_WEBHOOK_ALLOW_PRIVATE", False)
# Where links in notifications point: the site as people reach it.
CTRLREADY_SITE_URL = os.environ.get("CTRLREADY_SITE_URL", "").strip() or (
    CSRF_TRUSTED_ORIGINS[0] if CSRF_TRUSTED_ORIGINS else "http://127.0.0.1:8000"
)


def mailer(url: str) -> dict:
    """`EMAIL_URL` → the default mailer: `smtp://[user:password@]host:port`, `smtp+tls://` (STARTTLS),
    `smtps://` (TLS from the start). Unset: mail is printed to the console while DEBUG is on."""
    if not url:
        if DEBUG:
            return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
        return {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": {"host": "localhost", "timeout": 10}}
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtp+tls", "smtps"):
        raise RuntimeError("EMAIL_URL must start with smtp://, smtp+tls:// or smtps://, e.g. smtp://mail.example.com:25.")
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": parts.hostname or "localhost",
            "port": parts.port,
            "username": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "use_tls": parts.scheme == "smtp+tls",
            "use_ssl": parts.scheme == "smtps",
            "timeout": 10,
        },
    }


MAILERS = {"default": mailer(os.environ.get("EMAIL_URL", "").strip())}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "").strip() or "ctrlready <ctrlready@localhost>"

# --- Logging --------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request": {"()": "ctrlready.logging.RequestContextFilter"},
        "secrets": {"()": "ctrlready.logging.SecretRedactionFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(user)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT if LOG_FORMAT in {"json", "text"} else "json",
            "filters": ["request", "secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler would print every line a second time, unformatted.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "INFO"},
        # WeasyPrint logs every page it lays out of a PDF report at INFO; what matters is a warning.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # Clients that log every URL they call (a probe's URL can carry a secret in its query) or every
        # SSH negotiation step: only their warnings and errors are worth a line.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "paramiko": {"level": "WARNING"},
    },
}
