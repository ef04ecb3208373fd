"""Every `KALEYRA_*` and `MPM_*` setting in one place: its type, default, limits and meaning.

`mpmsite/settings.py` reads them all from the environment with `from_environment(env)`; code reads
them as `conf.KALEYRA_RATE_PER_SECOND`, which looks at Django's settings at the moment of the read
(so `override_settings` and pytest's `settings` fixture work) and refuses a value outside its
limits with `ImproperlyConfigured` naming the variable. `problems()` lists every bad value at once
for the system check (`campaigns.E001`).
"""

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    kind: str  # how the environment spells it: str, bool, int, float, list, floats, networks
    default: object
    minimum: float | None = None
    maximum: float | None = None
    doc: str = ""
    choices: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()  # a URL, when set, must start with one of these

    def problem(self, name: str, value) -> str:
        """What is wrong with `value`, in plain words naming the variable; "" when nothing."""
        if self.choices and value not in self.choices:
            return f"{name} must be one of {', '.join(self.choices)}; got {value!r}."
        if self.schemes and value and not value.startswith(tuple(f"{s}://" for s in self.schemes)):
            schemes = ", ".join(f"{s}://" for s in self.schemes)
            return f"{name} must be a URL starting with {schemes}; got {value!r}."
        if self.kind == "networks":
            for network in value:
                try:
                    ipaddress.ip_network(network, strict=False)
                except ValueError:
                    return f"{name} must list IP addresses or networks; got {network!r}."
        numbers = value if self.kind == "floats" else [value]
        if self.kind in ("int", "float", "floats"):
            for number in numbers:
                if isinstance(number, bool) or not isinstance(number, int | float):
                    return f"{name} must be a number; got {number!r}."
                if number != number:  # NaN
                    return f"{name} must be a number; got NaN."
                if self.minimum is not None and number < self.minimum:
                    return f"{name} must be at least {self.minimum:g}; got {number:g}."
                if self.maximum is not None and number > self.maximum:
                    return f"{name} must be at most {self.maximum:g}; got {number:g}."
        return ""


SETTINGS: dict[str, Setting] = {
    # Where sends go: Kaleyra (live) or the app's own offline sandbox. Unset, it is the sandbox
    # with DJANGO_DEBUG on and live with it off, so a forgotten variable fails closed.
    "KALEYRA_MODE": Setting("str", "", choices=("sandbox", "live")),
    "KALEYRA_REGION": Setting("str", "in", doc="in, sg, eu or na: picks Kaleyra's domain"),
    "KALEYRA_SID": Setting("str", ""),
    "KALEYRA_API_KEY": Setting("str", "", doc="read from the environment only; never shown"),
    "KALEYRA_SENDER": Setting("str", "", doc="the WhatsApp business number sent from"),
    "KALEYRA_BASE_URL": Setting("str", "", doc="replaces https://<regional domain> when set"),
    # The WhatsApp Business Account whose templates `sync_templates` reads (live mode; the
    # sandbox takes any value).
    "KALEYRA_WABA_ID": Setting("str", "", doc="the WABA id in the template list's URL"),
    # How often the periodic `sync_templates_task` reads the template list again (0: never;
    # the command and the admin's button still sync).
    "MPM_TEMPLATE_SYNC_INTERVAL": Setting("float", 3600.0, minimum=0, maximum=7 * 86_400),
    "KALEYRA_SANDBOX_BASE_URL": Setting("str", "http://127.0.0.1:8000/sandbox"),
    "KALEYRA_CONNECT_TIMEOUT": Setting("float", 5.0, minimum=0.1, maximum=300),
    "KALEYRA_READ_TIMEOUT": Setting("float", 30.0, minimum=0.1, maximum=600),
    # The send engine. Meta's default tier is 80 messages/second per number (up to 1,000):
    # the rate of sends from the settings' sender (a Sender row has its own). 0 turns every
    # limit off, senders' too (local stand-ins and benchmarks only).
    "KALEYRA_RATE_PER_SECOND": Setting("float", 80.0, minimum=0, maximum=1000),
    "MPM_RATE_REDIS_URL": Setting(
        "str",
        "",
        doc="share each sender's rate through this Redis instead of the database",
        schemes=("redis", "rediss", "unix"),
    ),
    "MPM_SEND_CONCURRENCY": Setting("int", 256, minimum=1, maximum=4096),
    # Kaleyra: retry WA500 up to 3 times, at 5, 10 and 15 minutes.
    "KALEYRA_WA500_RETRY_DELAYS": Setting("floats", [300.0, 600.0, 900.0], minimum=0),
    "MPM_CONNECT_RETRY_BASE_DELAY": Setting("float", 2.0, minimum=0),
    "MPM_CONNECT_MAX_RETRIES": Setting("int", 5, minimum=0, maximum=100),
    # A run beats its heartbeat row every quarter of this and stops sending once half of it
    # passes without a beat; after all of it, recovery counts the run dead and settles its claims.
    "MPM_HEARTBEAT_LEASE": Setting("float", 20.0, minimum=0.4, maximum=3600),
    # An always-on campaign's run waits this long for the next trigger before its task ends
    # (the next API call starts another).
    "MPM_TRIGGERED_STAY_OPEN": Setting("float", 300.0, minimum=0.1, maximum=86_400),
    # How often the recovery task looks for campaigns left sending by a dead worker.
    "MPM_RECOVERY_INTERVAL": Setting("float", 30.0, minimum=0.5, maximum=3600),
    "MPM_JOURNAL_DIR": Setting("str", str(BASE_DIR / "var" / "journal")),
    # Recipient CSVs uploaded in the composer (kept in Django's default storage): refused above
    # this size before the request is read; checked in the request up to MPM_UPLOAD_INLINE_BYTES,
    # by a worker above; removed when left unconfirmed this long.
    "MPM_UPLOAD_MAX_BYTES": Setting("int", 50_000_000, minimum=100_000, maximum=10**12),
    "MPM_UPLOAD_INLINE_BYTES": Setting("int", 200_000, minimum=0, maximum=10**9),
    "MPM_UPLOAD_LIFETIME_HOURS": Setting("float", 2.0, minimum=0.05, maximum=24 * 30),
    # A campaign is paused when more than MPM_AUTO_PAUSE_SHARE of its run's first
    # MPM_AUTO_PAUSE_SAMPLE answers failed: a cause common to all (0: never).
    "MPM_AUTO_PAUSE_SAMPLE": Setting("int", 200, minimum=0, maximum=1_000_000),
    "MPM_AUTO_PAUSE_SHARE": Setting("float", 0.2, minimum=0.01, maximum=1),
    # WhatsApp's Business Messaging Policy: marketing goes only to contacts whose current
    # consent (their ledger's last word) is opted in; others are skipped, with the reason.
    "MPM_CONSENT_REQUIRED": Setting("bool", True),
    # A contact list is itself the proof of opt-in: imports and the recipient lists of a send
    # record opt-ins from it; off, a list's consent column is ignored and only the ledger's own
    # events count.
    "MPM_LISTS_CARRY_CONSENT": Setting("bool", False),
    # Contact imports: rows per chunk (one transaction, one progress write each).
    "MPM_IMPORT_CHUNK_ROWS": Setting("int", 5000, minimum=100, maximum=100_000),
    # Meta stopped delivering marketing templates to US (+1) numbers on 2025-04-01.
    "MPM_SKIP_US_RECIPIENTS": Setting("bool", True),
    # Callback authentication (each value may be a comma-separated list, for rotation).
    "KALEYRA_CALLBACK_USERNAME": Setting("list", []),
    "KALEYRA_CALLBACK_PASSWORD": Setting("list", []),
    "KALEYRA_CALLBACK_HEADER": Setting("str", ""),
    "KALEYRA_CALLBACK_TOKEN": Setting("list", []),
    "KALEYRA_CALLBACK_CLIENT_ID": Setting("list", []),
    "KALEYRA_CALLBACK_CLIENT_SECRET": Setting("list", []),
    "KALEYRA_CALLBACK_TOKEN_TTL": Setting("int", 3600, minimum=60, maximum=86400),
    # Replies that opt out (or back in), besides STOP / UNSUBSCRIBE / START.
    "MPM_STOP_WORDS": Setting("list", []),
    "MPM_START_WORDS": Setting("list", []),
    # At most one marketing message per recipient within this many hours, across campaigns.
    "MPM_FREQUENCY_CAP_HOURS": Setting("float", 24.0, minimum=0),
    # Meta's 131049 (per-user marketing limit): queue the message once more, 24 hours later.
    "MPM_RETRY_131049": Setting("bool", False),
    "MPM_ORDER_ATTRIBUTION_DAYS": Setting("float", 7.0, minimum=0),
    # After Meta's 130429 / 131056 the sender's rate is cut for this long.
    "MPM_PACING_SLOWDOWN_SECONDS": Setting("float", 300.0, minimum=0),
    # Status events whose message is not known yet are matched again for this long.
    "MPM_CALLBACK_MATCH_HOURS": Setting("float", 24.0, minimum=0),
    # The sandbox posts realistic callbacks back to the app after accepting a message.
    "MPM_SANDBOX_CALLBACKS": Setting("bool", True),
    # Where they go: never derived from a request. Default: SITE_URL's /callbacks/kaleyra/.
    "MPM_SANDBOX_CALLBACK_URL": Setting("str", ""),
    # Who may use the sandbox's send endpoint without logging in (addresses or networks).
    "MPM_SANDBOX_ALLOWED_IPS": Setting("networks", ["127.0.0.0/8", "::1"]),
    "MPM_SANDBOX_CALLBACK_DELAY": Setting("float", 0.5, minimum=0),
    # /healthz fails when a due task or a callback has waited longer than this (seconds).
    "MPM_HEALTH_MAX_WAIT": Setting("float", 120.0, minimum=1),
    # The HTTP API (campaigns.api): calls per second each token may make on average, and how
    # many it may make at once after a quiet spell; counted in Django's cache (DJANGO_CACHE_URL).
    "MPM_API_RATE": Setting("float", 10.0, minimum=0.01, maximum=10_000),
    "MPM_API_BURST": Setting("int", 20, minimum=1, maximum=100_000),
    # An Idempotency-Key's answer is replayed for at least this long, then purged.
    "MPM_API_IDEMPOTENCY_HOURS": Setting("float", 24.0, minimum=24, maximum=24 * 30),
    # Outbound webhooks (campaigns.webhooks). Each endpoint's secret is derived from this key
    # (empty: DJANGO_SECRET_KEY), so none is stored; changing it changes every secret.
    "MPM_WEBHOOK_SIGNING_KEY": Setting(
        "str", "", doc="read from the environment only; never shown"
    ),
    # Posts in flight at once (over all endpoints; at most 4 per endpoint) and each one's
    # connect and read timeouts.
    "MPM_WEBHOOK_CONCURRENCY": Setting("int", 16, minimum=1, maximum=256),
    "MPM_WEBHOOK_TIMEOUT": Setting("float", 5.0, minimum=0.1, maximum=60),
    # http:// endpoints on 127.0.0.1 / localhost (allowed anyway with DJANGO_DEBUG on).
    "MPM_WEBHOOK_LOCAL_HTTP": Setting("bool", False),
    # Where this app is reachable; demo product images are served from it.
    "SITE_URL": Setting("str", "http://127.0.0.1:8000"),
}

# Read from other settings at the moment of the read, never set on their own.
DERIVED: dict[str, Callable[[], object]] = {
    "KALEYRA_SANDBOX": lambda: value("KALEYRA_MODE") == "sandbox",
    "MPM_WEBHOOK_LOCAL_HTTP_ALLOWED": lambda: settings.DEBUG or value("MPM_WEBHOOK_LOCAL_HTTP"),
}


def from_environment(env, *, debug: bool) -> dict:
    """Every setting read from the environment (django-environ's `Env`), for settings.py."""
    readers: dict[str, Callable] = {
        "str": env.str,
        "bool": env.bool,
        "int": env.int,
        "float": env.float,
        "list": env.list,
        "floats": lambda name, default: env.list(name, cast=float, default=default),
        "networks": env.list,
    }
    values = {name: readers[s.kind](name, default=s.default) for name, s in SETTINGS.items()}
    values["KALEYRA_MODE"] = values["KALEYRA_MODE"].strip().lower() or (
        "sandbox" if debug else "live"
    )
    return values


def value(name: str):
    """The current value of one setting, checked against its limits."""
    if name in DERIVED:
        return DERIVED[name]()
    setting = SETTINGS.get(name)
    if setting is None:
        raise AttributeError(f"campaigns.conf has no setting {name!r}")
    current = getattr(settings, name, setting.default)
    problem = setting.problem(name, current)
    if problem:
        raise ImproperlyConfigured(problem)
    return current


DEFAULT_KEY_VARIABLE = "KALEYRA_API_KEY"


def sender_api_key(variable: str) -> str:
    """The API key in the environment variable a sender names ("" when unset). The default
    sender's KALEYRA_API_KEY is read through the settings (settings.py took it from the
    environment, and tests set it there); any other straight from the environment, at the
    moment of the read. Never logged or shown."""
    if variable == DEFAULT_KEY_VARIABLE:
        return str(value(DEFAULT_KEY_VARIABLE) or "").strip()
    return os.environ.get(variable, "").strip()


def problems() -> list[str]:
    """Every setting outside its limits, in plain words."""
    return [
        problem
        for name, setting in SETTINGS.items()
        if (problem := setting.problem(name, getattr(settings, name, setting.default)))
    ]


def __getattr__(name: str):
    if name.isupper():
        return value(name)
    raise AttributeError(name)
