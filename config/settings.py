"""Bazaar settings.

Every value comes from the environment (django-environ) with a safe local default, so a fresh
checkout runs on SQLite, local media, console email and an embedded Celery broker. Production
(`DJANGO_ENV=production`) has no defaults for secrets: a missing one stops the process with a
message that names it.
"""

import base64
import hashlib
import re
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(
        f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}."
    )
IS_PRODUCTION = DJANGO_ENV == "production"


def _required_in_production(name, dev_default, cast=str):
    """Read a setting that production must set explicitly; record it when missing."""
    if IS_PRODUCTION and not env.ENVIRON.get(name):
        _MISSING.append(name)
        return cast() if cast is not str else ""
    getter = {str: env.str, list: env.list}[cast]
    return getter(name, default=dev_default)


_MISSING: list[str] = []

# --- Core ---------------------------------------------------------------------------------------
SECRET_KEY = _required_in_production(
    "DJANGO_SECRET_KEY", "django-insecure-local-development-key-not-for-production"
)
DEBUG = env.bool("DJANGO_DEBUG", default=DJANGO_ENV == "development")
ALLOWED_HOSTS = _required_in_production(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"], cast=list
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Stripe (used by the Stripe layer; production must name real keys) -------------------------
STRIPE_SECRET_KEY = _required_in_production("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = _required_in_production("STRIPE_PUBLISHABLE_KEY", "")
# No webhook secret here: `manage.py stripe_webhooks setup` registers Bazaar's endpoints with
# Stripe and stores each one's signing secret (dj-stripe's WebhookEndpoint), which the intake
# verifies with.
# Pinned: the sandbox speaks this version and shared/stripe-openapi holds its spec.
STRIPE_API_VERSION = env.str("STRIPE_API_VERSION", default="2024-04-10")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# No Stripe key outside production: the offline sandbox answers every Stripe call. The product
# never imports it: these settings name its HTTP client and its clock by dotted path, and its app
# and URLs are added below.
STRIPE_SANDBOX = not STRIPE_SECRET_KEY and not IS_PRODUCTION
# The stripe SDK's HTTP client class; empty for the SDK's own (requests to STRIPE_API_BASE).
STRIPE_HTTP_CLIENT = ""
# Bazaar's clock for deadlines (payment expiry, review windows): a function returning an aware
# datetime. core.clock.now() calls it.
BAZAAR_CLOCK = "django.utils.timezone.now"
if STRIPE_SANDBOX:
    # Any test-mode key works with the sandbox; dj-stripe insists on sk_test_ + 24 characters.
    STRIPE_SECRET_KEY = "sk_test_BazaarOfflineSandbox0000"
    STRIPE_PUBLISHABLE_KEY = "pk_test_BazaarOfflineSandbox0000"
    STRIPE_HTTP_CLIENT = "stripe_sandbox.transport.SandboxHTTPClient"
    # Advancing the sandbox's clock moves Bazaar's deadlines with Stripe's settlement.
    BAZAAR_CLOCK = "stripe_sandbox.core.current_datetime"
STRIPE_SANDBOX_WEBHOOK_DELIVERY = env.str("STRIPE_SANDBOX_WEBHOOK_DELIVERY", default="inprocess")
# The periodic jobs the sandbox's control page starts right after it advances the clock (by
# task name: the sandbox imports nothing of the product), so what fell due happens at once
# rather than on the next beat tick.
STRIPE_SANDBOX_AFTER_ADVANCE = [
    "escrow.tasks.expire_unpaid_orders",
    "escrow.tasks.send_release_reminders",
    "escrow.tasks.auto_release_due_orders",
    "escrow.tasks.escalate_overdue_disputes",
    "payouts.tasks.run_scheduled_payouts",
]

# --- Amazon Selling Partner API (amazon_sync/spapi.py) -------------------------------------------
# The app's Login with Amazon credentials and its SP-API application id, from Seller Central's
# Developer Central. Sellers authorize the app themselves (their refresh tokens are stored per
# seller, encrypted); no seller's token belongs in settings.
AMAZON_LWA_CLIENT_ID = env.str("AMAZON_LWA_CLIENT_ID", default="")
AMAZON_LWA_CLIENT_SECRET = env.str("AMAZON_LWA_CLIENT_SECRET", default="")
AMAZON_SPAPI_APP_ID = env.str("AMAZON_SPAPI_APP_ID", default="")
# The marketplace listings are published to (amazon.com's by default).
AMAZON_MARKETPLACE_ID = env.str("AMAZON_MARKETPLACE_ID", default="ATVPDKIKX0DER")
# Where a seller authorizes the app; empty for the marketplace's own Seller Central.
AMAZON_SELLER_CENTRAL_URL = env.str("AMAZON_SELLER_CENTRAL_URL", default="")
# An httpx transport class (dotted path) for every SP-API, Login with Amazon and feed document
# call; empty for httpx's own (the network).
AMAZON_SPAPI_TRANSPORT = ""
AMAZON_SPAPI_TIMEOUT_SECONDS = env.float("AMAZON_SPAPI_TIMEOUT_SECONDS", default=30.0)
if IS_PRODUCTION and AMAZON_LWA_CLIENT_ID:
    # An Amazon app half configured would fail at the first seller's connect, not at start.
    _MISSING += [
        name
        for name in ("AMAZON_LWA_CLIENT_SECRET", "AMAZON_SPAPI_APP_ID")
        if not env.ENVIRON.get(name)
    ]
# No Amazon app outside production: the offline SP-API sandbox (amazon_sandbox/README.md) answers
# Login with Amazon, the Listings Items and Feeds APIs and Seller Central's consent page.
# As with Stripe, the product never imports it: the transport is named here by dotted path.
AMAZON_SPAPI_SANDBOX = not AMAZON_LWA_CLIENT_ID and not IS_PRODUCTION
if AMAZON_SPAPI_SANDBOX:
    AMAZON_LWA_CLIENT_ID = "amzn1.application-oa2-client.bazaarsandbox"
    AMAZON_LWA_CLIENT_SECRET = "amzn1.oa2-cs.v1.bazaar-offline-sandbox"
    AMAZON_SPAPI_APP_ID = "amzn1.sp.solution.bazaar-offline-sandbox"
    AMAZON_SELLER_CENTRAL_URL = f"{SITE_URL}/amazon-sandbox"
    AMAZON_SPAPI_TRANSPORT = "amazon_sandbox.transport.SandboxTransport"

# --- Amazon channel sync (amazon_sync) -----------------------------------------------------------
# Fernet keys that encrypt sellers' Amazon refresh tokens, newest first (amazon_sync/crypto.py
# rotates). Production names its own; elsewhere one is derived from SECRET_KEY, so nothing
# secret is written here and a development database stays readable across restarts.
AMAZON_CREDENTIALS_KEYS = _required_in_production(
    "AMAZON_CREDENTIALS_KEYS",
    [
        base64.urlsafe_b64encode(
            hashlib.sha256(f"bazaar.amazon-credentials:{SECRET_KEY}".encode()).digest()
        ).decode()
    ],
    cast=list,
)
# A price or stock change waits this long before it is pushed, so a burst of sales or edits
# becomes one request to Amazon.
AMAZON_SYNC_DEBOUNCE_SECONDS = env.int("AMAZON_SYNC_DEBOUNCE_SECONDS", default=5)
# Retries of one Amazon call that was throttled or could not reach Amazon (backing off, and
# never sooner than Amazon's Retry-After).
AMAZON_SYNC_MAX_RETRIES = env.int("AMAZON_SYNC_MAX_RETRIES", default=6)
# How soon after a publish or a feed Bazaar first asks Amazon how it went (the beat job asks
# again every AMAZON_SYNC_POLL_SECONDS after that).
AMAZON_SYNC_FIRST_CHECK_SECONDS = env.int("AMAZON_SYNC_FIRST_CHECK_SECONDS", default=60)
AMAZON_SYNC_POLL_SECONDS = env.int("AMAZON_SYNC_POLL_SECONDS", default=300)

if _MISSING:
    raise ImproperlyConfigured(
        "Bazaar refuses to start in production without these environment variables: "
        + ", ".join(_MISSING)
        + ". See the configuration table in README.md."
    )

INSTALLED_APPS = [
    # django.contrib.admin, with the back office's two-factor sign-in (accounts/admin_site.py).
    "accounts.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Full-text search and trigram lookups (marketplace/search.py); inert on SQLite.
    "django.contrib.postgres",
    # The listing's search vector is kept current by PostgreSQL triggers declared on the models.
    "pgtrigger",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Email verification only (accounts/email_verification.py): its EmailAddress model and signed
    # confirmation keys; Bazaar keeps its own sign-up and login pages.
    "allauth",
    "allauth.account",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "djstripe",
    "core",
    "accounts",
    "marketplace",
    "escrow",
    "messaging",
    "payouts",
    "notifications",
    "reviews",
    "favourites",
    "amazon_sync",
    "config",  # the project's own management commands (seed_demo)
]
if STRIPE_SANDBOX:
    INSTALLED_APPS.append("stripe_sandbox")
if AMAZON_SPAPI_SANDBOX:
    INSTALLED_APPS.append("amazon_sandbox")

MIDDLEWARE = [
    # First: whatever the others log is tied to the request (core/logs.py).
    "core.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Stripe's webhooks stop here: nothing below concerns them (core/stripe_webhooks.py).
    "core.stripe_webhooks.IntakeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # An anonymous visitor's catalogue page that is in the cache is answered here, complete with
    # every header the middleware below added when it was made (core/http_cache.py).
    "core.http_cache.FrontCacheMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Whether this session signed in with a two-factor code (request.user.is_verified()).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # allauth.account needs the request in its context (the confirmation emails it renders).
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "core.context_processors.site",
                "notifications.context_processors.notifications",
                "messaging.context_processors.messaging",
            ],
        },
    },
]

# --- Data ---------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the Celery worker share the file: wait for the lock instead of failing,
    # and take the write lock when a transaction starts so two writers never deadlock on upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # The statements built once for the hot paths (core.rows.cursor(): a release's row locks,
    # ledger lines, notifications) are prepared on each connection at their first run, so later
    # runs skip PostgreSQL's parsing and planning. Django's own queries are never prepared: its
    # cursors bind parameters on the client, which psycopg does not prepare. Turn it off behind a
    # pooler that does not keep prepared statements (PgBouncer in transaction mode before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Django's Redis backend, keeping one client instead of building one per call (core/cache.py).
    CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Accounts -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
# django-axes' backend first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login lockout (accounts/lockout.py): this many wrong passwords for one account from one address
# lock that pair out until the cool-off has passed since the last attempt.
AXES_FAILURE_LIMIT = env.int("BAZAAR_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("BAZAAR_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.lockout.login_username"
AXES_CLIENT_IP_CALLABLE = "core.http.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_PASSWORD_FORM_FIELD = "password"
# Two-factor authentication for staff in the admin (django-otp; accounts/admin_site.py). With
# this on, staff must enrol an authenticator app before the admin opens for them.
BAZAAR_ADMIN_REQUIRE_2FA = env.bool("BAZAAR_ADMIN_REQUIRE_2FA", default=IS_PRODUCTION)
OTP_TOTP_ISSUER = "Bazaar"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Email verification (django-allauth's account app, used under Bazaar's own pages): a new account
# and a changed address get a signed link; until it is confirmed the person cannot sell or pay.
ACCOUNT_ADAPTER = "accounts.email_verification.BazaarAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "optional"
# A changed address replaces the old one only once its link is confirmed.
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_CONFIRMATION_HMAC = True
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = env.int("BAZAAR_EMAIL_CONFIRMATION_DAYS", default=3)
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
ACCOUNT_RATE_LIMITS = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18N ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Files --------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    # Private bucket: no ACLs, every URL presigned and short-lived.
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    if IS_PRODUCTION and not AWS_S3_REGION_NAME and not AWS_S3_ENDPOINT_URL:
        # A SigV4 presigned URL only works when signed for the bucket's own region.
        raise ImproperlyConfigured(
            "With AWS_STORAGE_BUCKET_NAME set, production needs AWS_S3_REGION_NAME (the "
            "bucket's region): presigned URLs are signed for it. See README.md."
        )
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=300)
    AWS_S3_FILE_OVERWRITE = False
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}

# Outside production, WhiteNoise serves straight from the app and project static folders.
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- Message attachments ------------------------------------------------------------------------
# Private: never under MEDIA_URL. Served only through access-checked views that redirect to a
# short-lived signed URL (S3 presigned, or a signed link to our own file view locally).
MESSAGING_ATTACHMENTS_ROOT = Path(
    env.str("MESSAGING_ATTACHMENTS_ROOT", default=str(VAR_DIR / "attachments"))
)
MESSAGING_ATTACHMENT_URL_EXPIRY = env.int("MESSAGING_ATTACHMENT_URL_EXPIRY", default=300)
MESSAGING_ATTACHMENT_MAX_BYTES = env.int("MESSAGING_ATTACHMENT_MAX_BYTES", default=16 * 1024 * 1024)
MESSAGING_ATTACHMENT_MAX_FILES = env.int("MESSAGING_ATTACHMENT_MAX_FILES", default=5)
# Direct-to-storage uploads (mobile) must be confirmed within this many seconds.
MESSAGING_UPLOAD_URL_EXPIRY = env.int("MESSAGING_UPLOAD_URL_EXPIRY", default=900)
# Contact details before payment are always flagged for staff; with this on, such a message is
# also withheld from the other side until staff clear it.
MESSAGING_BLOCK_CONTACT_DETAILS = env.bool("MESSAGING_BLOCK_CONTACT_DETAILS", default=False)
# Someone who had Bazaar open this recently sees new messages in the page: no email for them.
MESSAGING_ONLINE_SECONDS = 300
if AWS_STORAGE_BUCKET_NAME:
    _attachments_storage = {
        "BACKEND": "messaging.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": env.str("MESSAGING_ATTACHMENTS_BUCKET", default=AWS_STORAGE_BUCKET_NAME),
            "location": "attachments",
            "querystring_expire": MESSAGING_ATTACHMENT_URL_EXPIRY,
        },
    }
else:
    _attachments_storage = {"BACKEND": "messaging.storage.PrivateFileStorage"}

STORAGES = {
    "default": _default_storage,
    "attachments": _attachments_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Email --------------------------------------------------------------------------------------
# Unset outside production, each email is saved to EMAIL_FILE_PATH as an .eml file with one log
# line (core.mail.FolderEmailBackend), so `make run`'s console stays readable.
if env.str("EMAIL_URL", default="") or IS_PRODUCTION:
    vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
else:
    EMAIL_BACKEND = "core.mail.FolderEmailBackend"
# Seconds one step with the mail server may take: Django's default waits for ever, and a drain
# (notifications.services) sends one email after another.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Bazaar <no-reply@bazaar.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery -------------------------------------------------------------------------------------
# With no REDIS_URL, kombu's filesystem transport lets a real worker and beat run with no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
_celery_queue_dir = VAR_DIR / "celery" / "queue"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_celery_queue_dir),
        "data_folder_out": str(_celery_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# No task may hang a worker: past the soft limit a task gets SoftTimeLimitExceeded (and its
# transaction rolls back); past the hard limit the worker process is replaced.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celery" / "beat-schedule")
# The one beat schedule; periodic jobs are listed here and shown in README.
CELERY_BEAT_SCHEDULE = {
    "escrow-auto-release": {
        "task": "escrow.tasks.auto_release_due_orders",
        "schedule": env.int("ESCROW_JOB_INTERVAL_SECONDS", default=300),
    },
    "escrow-release-reminders": {
        "task": "escrow.tasks.send_release_reminders",
        "schedule": env.int("ESCROW_JOB_INTERVAL_SECONDS", default=300),
    },
    "escrow-expire-unpaid-orders": {
        "task": "escrow.tasks.expire_unpaid_orders",
        "schedule": env.int("ESCROW_JOB_INTERVAL_SECONDS", default=300),
    },
    "escrow-retry-failed-transfers": {
        "task": "escrow.tasks.retry_failed_transfers",
        "schedule": 3600,
    },
    # Refunds Stripe has not answered yet, and payments made twice or too late, refunded.
    "escrow-retry-pending-refunds": {
        "task": "escrow.tasks.retry_pending_refunds",
        "schedule": env.int("ESCROW_JOB_INTERVAL_SECONDS", default=300),
    },
    # Sellers' scheduled payouts (daily, weekly, monthly): each period paid once.
    "payouts-run-scheduled": {
        "task": "payouts.tasks.run_scheduled_payouts",
        "schedule": env.int("ESCROW_JOB_INTERVAL_SECONDS", default=300),
    },
    # Payouts Stripe could not be reached for, sent again (same idempotency key: one payout).
    "payouts-send-requested": {
        "task": "payouts.tasks.send_requested_payouts",
        "schedule": env.int("ESCROW_JOB_INTERVAL_SECONDS", default=300),
    },
    # Chargebacks' transfers Stripe could not make yet (seller shares, won chargebacks).
    "escrow-retry-chargebacks": {
        "task": "escrow.tasks.retry_chargebacks",
        "schedule": 3600,
    },
    # Disputes past their deadlines (unanswered, undecided): highlighted and staff emailed; an
    # unanswered no-show ("the seller did not show up") is refunded to the buyer in full first.
    "escrow-escalate-overdue-disputes": {
        "task": "escrow.tasks.escalate_overdue_disputes",
        "schedule": 3600,
    },
    "escrow-daily-reconciliation": {
        "task": "escrow.tasks.reconcile_with_stripe",
        "schedule": crontab(hour=3, minute=30),
    },
    # Stripe events stored but never processed (the broker was down): queued again.
    "core-requeue-stored-webhooks": {
        "task": "core.stripe_webhooks.requeue_stored_webhooks",
        "schedule": 60,
    },
    "core-purge-refused-webhooks": {
        "task": "core.stripe_webhooks.purge_refused_webhooks",
        "schedule": 3600,
    },
    "accounts-purge-expired-api-tokens": {
        "task": "accounts.tasks.purge_expired_api_tokens",
        "schedule": crontab(hour=4, minute=15),
    },
    "messaging-purge-stale-uploads": {
        "task": "messaging.tasks.purge_stale_uploads",
        "schedule": 3600,
    },
    # Listings Amazon is still processing (ASIN, issues), unfinished feeds, and changes whose
    # push was never queued (the broker was down).
    "amazon-sync-refresh": {
        "task": "amazon_sync.tasks.refresh_due",
        "schedule": AMAZON_SYNC_POLL_SECONDS,
    },
    # Emails due again after a failed attempt, or whose drain was lost (the broker was down).
    "notifications-requeue-emails": {
        "task": "notifications.tasks.requeue_emails",
        "schedule": 60,
    },
    "notifications-daily-digest": {
        "task": "notifications.tasks.send_email_digests",
        "schedule": crontab(hour=env.int("NOTIFICATIONS_DIGEST_HOUR", default=7), minute=0),
    },
}
CELERY_TIMEZONE = TIME_ZONE

# --- Rate limits --------------------------------------------------------------------------------
# Reverse proxies in front of Bazaar that append to X-Forwarded-For (a load balancer: 1). The
# client's address is read that many entries from the right; with 0 the header is ignored, since
# anyone can write it. The API's throttles, the login lockout and the reset limits all use it
# (core.http.client_ip).
BAZAAR_TRUSTED_PROXIES = env.int("BAZAAR_TRUSTED_PROXIES", default=0)
_RATE = re.compile(r"^[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def _rate(name, default):
    """A rate limit from the environment: requests per period, e.g. 20/min or 5/hour."""
    value = env.str(name, default=default).strip()
    if not _RATE.match(value):
        raise ImproperlyConfigured(f"{name} must look like 20/min or 5/hour, not {value!r}.")
    return value


# Budgets by scope (core.throttling), counted per signed-in person, else per client address.
_THROTTLE_RATES = {
    # Exchanging a password for an API token and signing up, per address.
    "auth": _rate("BAZAAR_RATE_API_AUTH", "20/min"),
    # Password reset emails asked for one address (whoever asks), and reset requests from one
    # client address (whatever addresses it tries).
    "password_reset_email": _rate("BAZAAR_RATE_PASSWORD_RESET_EMAIL", "5/hour"),
    "password_reset_ip": _rate("BAZAAR_RATE_PASSWORD_RESET_IP", "20/hour"),
    # "Send the link again" to confirm one's email address (the page and the API), per person.
    "email_confirmation": _rate("BAZAAR_RATE_EMAIL_CONFIRMATION", "3/hour"),
    # Per person, the website and the API together: messages sent (questions included), orders
    # placed, payments started (the Pay button, the API's pay).
    "messages": _rate("BAZAAR_RATE_MESSAGES", "20/min"),
    "orders": _rate("BAZAAR_RATE_ORDERS", "20/hour"),
    "payments": _rate("BAZAAR_RATE_PAYMENTS", "30/hour"),
}

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": _THROTTLE_RATES,
    # DRF's own reading of X-Forwarded-For, for any throttle that is not core.throttling's.
    "NUM_PROXIES": BAZAAR_TRUSTED_PROXIES,
}
# API tokens (django-rest-knox, accounts/authentication.py): `Authorization: Token <token>`, valid
# for this long after sign-in, revoked by logout, logout-all and a password change or reset.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("BAZAAR_API_TOKEN_TTL_HOURS", default=24 * 30)),
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bazaar API",
    "DESCRIPTION": "Marketplace API for mobile clients: catalogue, stores, accounts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets sharing a field name ("status") get a name of their own in the schema.
    "ENUM_NAME_OVERRIDES": {
        "DisputeStatusEnum": "escrow.models.DisputeStatus",
        # A report's reason, and the reasons an order offers.
        "DisputeReasonEnum": "escrow.models.DisputeReason",
        # One name for a choice set several fields use (a store's default, a listing's policy).
        "CancellationPolicyEnum": "marketplace.policies.CancellationPolicy",
        "EarningsPeriodEnum": "payouts.earnings.PERIOD_CHOICES",
        "BookingStatusEnum": "escrow.models.BookingStatus",
        # buyer/seller: an order's and a conversation's role, and which side wrote a review.
        "RoleEnum": ["buyer", "seller"],
        # A listing's review status: its seller's view (marketplace) and the same with its
        # Amazon sync status (amazon_sync) share it, under the name it always had.
        "SellerListingOutputStatusEnum": "marketplace.models.ListingStatus",
        # A listing's state on Amazon, and a bulk sync's (amazon_sync.models).
        "AmazonSyncStatusEnum": "amazon_sync.models.SyncStatus",
        "AmazonFeedStatusEnum": "amazon_sync.models.FeedStatus",
    },
}

# --- Content Security Policy: everything is served from this origin -----------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- dj-stripe: mirrors Stripe objects and verifies webhooks ------------------------------------
# Live mode follows the key (dj-stripe keeps test and live data apart, and reads live objects
# with STRIPE_LIVE_SECRET_KEY only): saying otherwise can only be a mistake.
_LIVE_KEY = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=_LIVE_KEY)
if STRIPE_SECRET_KEY and STRIPE_LIVE_MODE != _LIVE_KEY:
    raise ImproperlyConfigured(
        f"STRIPE_LIVE_MODE is {STRIPE_LIVE_MODE} but STRIPE_SECRET_KEY is a "
        f"{'live' if _LIVE_KEY else 'test'} key: leave STRIPE_LIVE_MODE unset, it follows the key."
    )
if STRIPE_LIVE_MODE:
    STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY
else:
    STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
STRIPE_WEBHOOK_TASK_MAX_RETRIES = env.int("STRIPE_WEBHOOK_TASK_MAX_RETRIES", default=5)
# A webhook signed further in the future than this is refused (one signed more than Stripe's
# 300 s ago already is): room for the two clocks to disagree, no more.
STRIPE_WEBHOOK_CLOCK_SKEW_SECONDS = env.int("STRIPE_WEBHOOK_CLOCK_SKEW_SECONDS", default=300)
# Stripe's events are kilobytes; a body over this is refused (413) before anything is stored.
STRIPE_WEBHOOK_MAX_BODY_BYTES = env.int("STRIPE_WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# A refused delivery keeps only why and its first bytes, and only this long.
STRIPE_WEBHOOK_REFUSED_KEEP_DAYS = env.int("STRIPE_WEBHOOK_REFUSED_KEEP_DAYS", default=7)
# Stripe answers 429 beyond about 100 writes a second in live mode and 25 in test mode. The
# release Transfers and Payouts take slots of this budget, shared by every process through Redis
# (core/stripe_rate.py); 0 turns the pacing off. A 429 all the same is retried after waits
# doubling from STRIPE_RATE_LIMIT_BACKOFF_SECONDS (with jitter), at most
# STRIPE_RATE_LIMIT_RETRIES times.
STRIPE_WRITES_PER_SECOND = env.float(
    "STRIPE_WRITES_PER_SECOND", default=100 if STRIPE_LIVE_MODE else 25
)
STRIPE_RATE_LIMIT_RETRIES = env.int("STRIPE_RATE_LIMIT_RETRIES", default=5)
STRIPE_RATE_LIMIT_BACKOFF_SECONDS = env.float("STRIPE_RATE_LIMIT_BACKOFF_SECONDS", default=0.5)

# --- Marketplace --------------------------------------------------------------------------------
BAZAAR_DEFAULT_CURRENCY = env.str("BAZAAR_DEFAULT_CURRENCY", default="usd").lower()
BAZAAR_CURRENCIES = [
    c.lower() for c in env.list("BAZAAR_CURRENCIES", default=["usd", "eur", "gbp"])
]
BAZAAR_COMMISSION_BPS = env.int("BAZAAR_COMMISSION_BPS", default=1000)
BAZAAR_COMMISSION_FIXED_CENTS = env.int("BAZAAR_COMMISSION_FIXED_CENTS", default=0)
BAZAAR_COMMISSION_MIN_CENTS = env.int("BAZAAR_COMMISSION_MIN_CENTS", default=0)
# Who bears Stripe's processing fee: "platform" (out of the commission) or "seller".
BAZAAR_STRIPE_FEE_PAYER = env.str("BAZAAR_STRIPE_FEE_PAYER", default="platform")
BAZAAR_REVIEW_WINDOW_DAYS = env.int("BAZAAR_REVIEW_WINDOW_DAYS", default=14)
# Reviews (reviews/): days after an order's release (or staff's decision on its dispute) during
# which its buyer and seller may review each other. Not BAZAAR_REVIEW_WINDOW_DAYS, which is how
# long a delivered order waits for the buyer before escrow releases itself.
REVIEW_WINDOW_DAYS = env.int("REVIEW_WINDOW_DAYS", default=14)
# A shipped product's handling and transit allowance when its listing sets none: the review
# window starts this many days after shipping unless the buyer confirms receipt first.
BAZAAR_DEFAULT_TRANSIT_DAYS = env.int("BAZAAR_DEFAULT_TRANSIT_DAYS", default=7)
BAZAAR_RELEASE_REMINDER_HOURS = env.int("BAZAAR_RELEASE_REMINDER_HOURS", default=48)
BAZAAR_PAYMENT_EXPIRY_MINUTES = env.int("BAZAAR_PAYMENT_EXPIRY_MINUTES", default=60)
# A release's transfer request not answered within this long is presumed lost (its caller died
# mid-call): the retry job and staff may send it again, with the same idempotency key.
ESCROW_TRANSFER_TIMEOUT_SECONDS = env.int("ESCROW_TRANSFER_TIMEOUT_SECONDS", default=600)
# The auto-release task works this long, then queues itself again for what is left: well within
# CELERY_TASK_SOFT_TIME_LIMIT, which a long run paced by Stripe's rate limit would pass.
ESCROW_RELEASE_JOB_SECONDS = env.int("ESCROW_RELEASE_JOB_SECONDS", default=60)
# A refund gives back the platform's commission (and the Stripe fee it passed on) in proportion
# to the refunded share; false keeps them, the seller's share being refunded first.
ESCROW_REFUND_RETURNS_COMMISSION = env.bool("ESCROW_REFUND_RETURNS_COMMISSION", default=True)
# Payouts: the smallest payout a seller may ask for (in the currency's minor unit), and the fee
# of an instant payout (basis points of the amount, with a floor), kept out of what reaches the
# bank and booked as Bazaar's revenue.
PAYOUT_MINIMUM_CENTS = env.int("PAYOUT_MINIMUM_CENTS", default=100)
PAYOUT_INSTANT_FEE_BPS = env.int("PAYOUT_INSTANT_FEE_BPS", default=150)
PAYOUT_INSTANT_FEE_MIN_CENTS = env.int("PAYOUT_INSTANT_FEE_MIN_CENTS", default=50)
# A new seller's first payout waits this many days after their first sale reached Stripe.
PAYOUT_FIRST_DELAY_DAYS = env.int("PAYOUT_FIRST_DELAY_DAYS", default=7)
# The scheduled payouts task works this long, then queues itself again for the sellers left,
# as the auto-release task does (ESCROW_RELEASE_JOB_SECONDS).
PAYOUT_JOB_SECONDS = env.int("PAYOUT_JOB_SECONDS", default=60)
# Disputes: the seller has this many days to answer a buyer's report, and staff this many days
# (from the report) to decide; past either deadline the dispute is escalated to finance staff.
BAZAAR_DISPUTE_RESPONSE_DAYS = env.int("BAZAAR_DISPUTE_RESPONSE_DAYS", default=3)
BAZAAR_DISPUTE_RESOLUTION_DAYS = env.int("BAZAAR_DISPUTE_RESOLUTION_DAYS", default=10)
BAZAAR_PAGE_SIZE = env.int("BAZAAR_PAGE_SIZE", default=24)
# Browse pages count matching listings up to this many and then say "1,000+": counting them all
# on every request reads every row (core.pagination.capped_count).
BAZAAR_BROWSE_COUNT_CAP = env.int("BAZAAR_BROWSE_COUNT_CAP", default=1000)
# A search ordered by relevance ranks this many of its newest matches, not all of them: ranking
# reads every match (marketplace/search.py).
BAZAAR_SEARCH_RANK_CANDIDATES = env.int("BAZAAR_SEARCH_RANK_CANDIDATES", default=1000)
# Anonymous visitors' catalogue pages and API lists are served from the cache until the catalogue
# changes, and clients keep them this many seconds (Cache-Control max-age); 0 turns it off
# (core/http_cache.py). The catalogue's version lapses after VERSION_SECONDS, which bounds what
# changes by the clock alone (a review revealed at its window's end) for revalidating clients.
BAZAAR_HTTP_CACHE_SECONDS = env.int("BAZAAR_HTTP_CACHE_SECONDS", default=60)
BAZAAR_HTTP_CACHE_VERSION_SECONDS = env.int("BAZAAR_HTTP_CACHE_VERSION_SECONDS", default=600)
# How long a request waits for another rendering the same missing entry before rendering its own.
BAZAAR_HTTP_CACHE_WAIT_SECONDS = env.int("BAZAAR_HTTP_CACHE_WAIT_SECONDS", default=5)
BAZAAR_MAX_LISTING_IMAGES = env.int("BAZAAR_MAX_LISTING_IMAGES", default=8)
# One limit for every uploaded image (listing photos and store logos): core/images.py.
BAZAAR_MAX_IMAGE_BYTES = env.int("BAZAAR_MAX_IMAGE_BYTES", default=5 * 1024 * 1024)
BAZAAR_MAX_IMAGE_PIXELS = env.int("BAZAAR_MAX_IMAGE_PIXELS", default=40_000_000)

NOTIFICATIONS_EMAIL_MAX_RETRIES = env.int("NOTIFICATIONS_EMAIL_MAX_RETRIES", default=3)
NOTIFICATIONS_EMAIL_RETRY_SECONDS = env.int("NOTIFICATIONS_EMAIL_RETRY_SECONDS", default=60)
# A drain starts this long after the first email queued, to send those queued meanwhile with it.
NOTIFICATIONS_EMAIL_GATHER_SECONDS = env.int("NOTIFICATIONS_EMAIL_GATHER_SECONDS", default=2)
NOTIFICATIONS_POLL_SECONDS = env.int("NOTIFICATIONS_POLL_SECONDS", default=30)

# --- Production hardening -----------------------------------------------------------------------
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)

# --- Tests (DJANGO_ENV=test, set by config/settings_test.py) ---------------------------------
if DJANGO_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
    MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "test-media")))
    # Tests of a limit set their own rate; everything else runs unthrottled in practice.
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = dict.fromkeys(_THROTTLE_RATES, "1000/min")
    # Tests see their own writes at once (post-commit bumps do not run inside a test's
    # transaction); the cache's own tests turn it on (marketplace/tests/test_http_cache.py).
    BAZAAR_HTTP_CACHE_SECONDS = env.int("BAZAAR_HTTP_CACHE_SECONDS", default=0)

# --- Logging (core/logs.py) ---------------------------------------------------------------------
# JSON lines in production (one object a line, for the log collector), readable text elsewhere.
# Every line logged during a request carries its request_id (and user_id once signed in), in a
# Celery task its task_id; money paths add order_id and Stripe's request id; secrets and card
# numbers are masked before anything is written.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if IS_PRODUCTION else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "core.logs.RequestContext"},
        "redact": {"()": "core.logs.RedactSecrets"},
    },
    "formatters": {
        "json": {
            "()": "core.logs.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        },
        "text": {
            "()": "core.logs.TextFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            "defaults": {"request_id": "-"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The stripe SDK logs every request at INFO; keep its warnings only.
    "loggers": {"stripe": {"level": "WARNING"}},
}
