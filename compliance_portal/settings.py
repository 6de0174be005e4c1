"""Settings for Compliance Portal, read from the environment.

With no variables set the product runs locally: SQLite beside the project and Celery tasks
executed in-process. ``COMPLIANCE_ENV=production`` refuses to start unless a secret key, a
database, a broker and the field-encryption keys are given.
"""

import base64
import hashlib
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from compliance_portal.env import env_bool, env_int, env_list, env_str, env_time

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = env_str("COMPLIANCE_ENV", "local")
if ENVIRONMENT not in {"local", "production"}:
    raise ImproperlyConfigured(f"COMPLIANCE_ENV must be local or production, got {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"

if PRODUCTION:
    # FIELD_HASH_KEY: lookups by keyed hash must survive a rotation of SECRET_KEY.
    _required = ["SECRET_KEY", "DATABASE_URL", "FIELD_ENCRYPTION_KEYS", "FIELD_HASH_KEY", "ALLOWED_HOSTS"]
    _missing = [name for name in _required if not env_str(name)]
    if not (env_str("CELERY_BROKER_URL") or env_str("REDIS_URL")):
        _missing.append("CELERY_BROKER_URL or REDIS_URL")
    if _missing:
        raise ImproperlyConfigured("Production mode needs these environment variables: " + ", ".join(_missing))

SECRET_KEY = env_str("SECRET_KEY", "local-development-only-not-secret")
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "shops",
    "affiliate",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication: a signed-in user's saved language, and the second factor on every page
    # (before any other check on the signed-in user: nothing else is open until it is passed).
    "shops.middleware.UserLanguageMiddleware",
    "shops.middleware.SecondFactorMiddleware",
    "privacy.middleware.ForbiddenFieldsMiddleware",
    "privacy.middleware.PolicyAcceptanceMiddleware",
    "privacy.middleware.AccessLogMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "shops.api.middleware.ApiUserAgentMiddleware",
]

ROOT_URLCONF = "compliance_portal.urls"

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
                "django.template.context_processors.i18n",
                "shops.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "compliance_portal.wsgi.application"

# Database ------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 30}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "shops.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
# English short dates as "7 Dec 2026, 14:05" (not the US "12/07/2026 2:05 p.m.").
FORMAT_MODULE_PATH = ["compliance_portal.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# WhiteNoise serves the collected files in production and the apps' static folders locally.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", default=PRODUCTION)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Sign-in lock-out (shops/services/auth.py): this many failures within the window lock an account
# (by e-mail) or an IP address for AUTH_LOCKOUT_MINUTES. Counted in the database, not in Redis.
AUTH_LOCKOUT_ACCOUNT_FAILURES = env_int("AUTH_LOCKOUT_ACCOUNT_FAILURES", 5)
AUTH_LOCKOUT_IP_FAILURES = env_int("AUTH_LOCKOUT_IP_FAILURES", 20)
AUTH_LOCKOUT_WINDOW_MINUTES = env_int("AUTH_LOCKOUT_WINDOW_MINUTES", 15)
AUTH_LOCKOUT_MINUTES = env_int("AUTH_LOCKOUT_MINUTES", 15)
if min(AUTH_LOCKOUT_ACCOUNT_FAILURES, AUTH_LOCKOUT_IP_FAILURES, AUTH_LOCKOUT_WINDOW_MINUTES, AUTH_LOCKOUT_MINUTES) < 1:
    raise ImproperlyConfigured("Every AUTH_LOCKOUT_* setting must be at least 1")
# Reverse proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR).
AUTH_TRUSTED_PROXIES = env_int("AUTH_TRUSTED_PROXIES", 0)
# The name authenticator apps show next to the one-time codes.
AUTH_OTP_ISSUER = env_str("AUTH_OTP_ISSUER", "Compliance Portal")
# Host name put in password-reset links; empty: the host of the request (checked by ALLOWED_HOSTS).
AUTH_PASSWORD_RESET_DOMAIN = env_str("AUTH_PASSWORD_RESET_DOMAIN")
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_MINUTES", 60) * 60
# Uploaded evidence and recovery documents (feed uploads are deleted once imported).
MEDIA_ROOT = env_str("MEDIA_ROOT", str(BASE_DIR / "media"))
MEDIA_URL = "media/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Celery --------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
# No broker configured: run tasks in-process, which is what a local checkout wants.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL is None)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "compliance")
# Queueing must not hang a request while Redis is down: a short connect timeout and one retry,
# then the work waits in its PostgreSQL row for the sweep (compliance_portal.celery.OutboxTask).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": env_int("CELERY_BROKER_CONNECT_TIMEOUT_MS", 300) / 1000,
    "socket_timeout": 5,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
# Task modules beyond each app's tasks.py.
CELERY_IMPORTS = ["shops.webhook_tasks", "shops.feed_tasks", "privacy.tasks"]

EVALUATION_DAILY_HOUR, EVALUATION_DAILY_MINUTE = env_time("EVALUATION_DAILY_AT", "03:00")
NOTIFICATION_DIGEST_HOUR, NOTIFICATION_DIGEST_MINUTE = env_time("NOTIFICATION_DIGEST_AT", "08:00")
# Days ops have to answer an appeal; the queue is ordered by this deadline.
APPEAL_REVIEW_DAYS = env_int("APPEAL_REVIEW_DAYS", 7)
# Entities per chunk of the daily run; one Celery task evaluates one chunk.
EVALUATION_CHUNK_SIZE = env_int("EVALUATION_CHUNK_SIZE", 50_000)
# A running run whose chunks have not moved for this long has lost its messages (a killed
# worker, Redis down): its pending chunks are queued again. A duplicate message is harmless.
EVALUATION_STALLED_AFTER_SECONDS = env_int("EVALUATION_STALLED_AFTER_SECONDS", 120)
# How long a chunk keeps retrying after losing its database connection before the run is failed.
EVALUATION_DB_RETRY_SECONDS = env_int("EVALUATION_DB_RETRY_SECONDS", 300)
# A feed job still queued after this long has lost its message and is queued again.
FEED_JOB_REQUEUE_AFTER_SECONDS = env_int("FEED_JOB_REQUEUE_AFTER_SECONDS", 120)
CELERY_BEAT_SCHEDULE = {
    "daily-eligibility-run": {
        "task": "shops.tasks.evaluation_daily_task",
        "schedule": crontab(hour=EVALUATION_DAILY_HOUR, minute=EVALUATION_DAILY_MINUTE),
    },
    "notification-digest": {
        "task": "shops.tasks.notifications_digest_task",
        "schedule": crontab(hour=NOTIFICATION_DIGEST_HOUR, minute=NOTIFICATION_DIGEST_MINUTE),
    },
    # Retries immediate e-mails a mail server refused earlier.
    "send-pending-emails": {
        "task": "shops.tasks.notifications_email_task",
        "schedule": crontab(minute="*/5"),
    },
    "expire-overrides": {
        "task": "shops.tasks.overrides_expire_task",
        "schedule": crontab(minute="*/15"),
    },
    "flag-licences": {
        "task": "shops.tasks.licences_flag_refresh_task",
        "schedule": crontab(minute=30),
    },
    # The sweeps: work recorded in PostgreSQL whose message was lost is queued again, and a
    # daily run the beat could not start (broker down, a run in progress at the hour) starts late.
    "resume-stalled-runs": {
        "task": "shops.tasks.evaluation_resume_task",
        "schedule": crontab(minute="*"),
    },
    "daily-eligibility-run-catch-up": {
        "task": "shops.tasks.evaluation_daily_catch_up_task",
        "schedule": crontab(minute="*/5"),
    },
    "requeue-feed-jobs": {
        "task": "shops.feed_tasks.feed_jobs_requeue_task",
        "schedule": crontab(minute="*"),
    },
    # The webhook outbox: events whose after-commit dispatch was lost (broker down), and retries.
    "webhook-dispatch": {
        "task": "shops.webhook_tasks.webhook_dispatch_task",
        "schedule": crontab(minute="*"),
    },
    "webhook-retries": {
        "task": "shops.webhook_tasks.webhook_retry_task",
        "schedule": 30.0,
    },
}

# Personal data -------------------------------------------------------------------------
# Comma-separated Fernet keys: the first encrypts, all of them decrypt (key rotation).
# The local default is derived from the development secret key and is never used in production.
_local_key = base64.urlsafe_b64encode(hashlib.sha256(("fernet:" + SECRET_KEY).encode()).digest()).decode()
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [_local_key])

# Keyed hashes of encrypted values (exact lookups); a separate key turns ids into pseudonyms.
FIELD_HASH_KEY = env_str("FIELD_HASH_KEY", hashlib.sha256(("blind-index:" + SECRET_KEY).encode()).hexdigest())
PRIVACY_PSEUDONYM_KEY = env_str(
    "PRIVACY_PSEUDONYM_KEY", hashlib.sha256(("pseudonym:" + SECRET_KEY).encode()).hexdigest()
)

# Privacy centre (policy 003): answers due 15 days after receipt, ops alerted before that.
PRIVACY_RESPONSE_DAYS = env_int("PRIVACY_RESPONSE_DAYS", 15)
PRIVACY_ALERT_DAYS_BEFORE = env_int("PRIVACY_ALERT_DAYS_BEFORE", 3)
PRIVACY_EXTENSION_MAX_DAYS = env_int("PRIVACY_EXTENSION_MAX_DAYS", 15)
PRIVACY_CODE_MINUTES = env_int("PRIVACY_CODE_MINUTES", 15)
PRIVACY_CODE_MAX_ATTEMPTS = env_int("PRIVACY_CODE_MAX_ATTEMPTS", 5)
PRIVACY_EXPORT_ROOT = env_str("PRIVACY_EXPORT_ROOT", str(BASE_DIR / "private" / "exports"))
PRIVACY_EXPORT_LINK_DAYS = env_int("PRIVACY_EXPORT_LINK_DAYS", 7)
PRIVACY_TEAM_EMAIL = env_str("PRIVACY_TEAM_EMAIL", "")
PRIVACY_MINIMUM_AGE = env_int("PRIVACY_MINIMUM_AGE", 18)
# Links in privacy e-mails (export downloads) start with this address.
PRIVACY_BASE_URL = env_str("PRIVACY_BASE_URL", "http://localhost:8000")
# Access-log and analytics entries are buffered in Redis and written in bulk every minute
# (default: the broker's Redis); without Redis they are written at once.
PRIVACY_BUFFER_REDIS_URL = env_str("PRIVACY_BUFFER_REDIS_URL")
PRIVACY_RETENTION_HOUR, PRIVACY_RETENTION_MINUTE = env_time("PRIVACY_RETENTION_AT", "04:00")
CELERY_BEAT_SCHEDULE |= {
    "privacy-retention": {
        "task": "privacy.tasks.retention_apply_task",
        "schedule": crontab(hour=PRIVACY_RETENTION_HOUR, minute=PRIVACY_RETENTION_MINUTE),
    },
    "privacy-deadlines": {"task": "privacy.tasks.rights_deadlines_alert_task", "schedule": crontab(minute=10)},
    "privacy-access-log-flush": {"task": "privacy.tasks.access_log_flush_task", "schedule": 60.0},
    "privacy-recipient-notices": {
        "task": "privacy.tasks.recipient_notices_send_task",
        "schedule": crontab(minute="*/5"),
    },
}

# Field names no feed, API body or form may carry (data minimisation, seed 001); one list for
# the shared guard of privacy/guard.py (the name is the feed's, where the list began).
FEED_FORBIDDEN_COLUMNS = env_list(
    "FEED_FORBIDDEN_COLUMNS",
    [
        "buyer_phone",
        "buyer_address",
        "buyer_name",
        "buyer_email",
        "buyer_id_number",
        "order_profit_margin",
    ],
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "shops.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "shops.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["shops.api.throttling.RedisWindowThrottle"],
    "DEFAULT_PAGINATION_CLASS": "shops.api.pagination.IdCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "shops.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # The forbidden-field guard of privacy/guard.py applied to every request body.
    "DEFAULT_PARSER_CLASSES": [
        "privacy.api.parsers.GuardedJSONParser",
        "privacy.api.parsers.GuardedFormParser",
        "privacy.api.parsers.GuardedMultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Compliance Portal API",
    "DESCRIPTION": "Affiliate eligibility of shops, products and creators; metric feeds; plans; appeals; webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per choice set where several share a field name.
    "ENUM_NAME_OVERRIDES": {
        "ConsentPurposeEnum": "privacy.models.Purpose",
        "RightsRequestKindEnum": "privacy.models.RightsRequest.Kind",
        "AccessSubjectKindEnum": "privacy.models.AccessLogSubject.Kind",
        "PlanKindEnum": "affiliate.models.AffiliatePlan.Kind",
        "NotificationKindEnum": "shops.models.Notification.Kind",
    },
}
# Requests and seconds per client (seed 001): eligibility reads, and feed or bulk calls.
API_RATE_LIMITS = {
    "eligibility": (env_int("API_RATE_ELIGIBILITY_PER_MINUTE", 120), 60),
    "bulk": (env_int("API_RATE_BULK_PER_HOUR", 3000), 3600),
}
RATE_LIMIT_REDIS_URL = env_str("RATE_LIMIT_REDIS_URL", REDIS_URL)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Compliance Portal <no-reply@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Security ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe the health check over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"
