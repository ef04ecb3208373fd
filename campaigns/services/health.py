"""Is this deployment able to work? What `/healthz` answers: the database, its migrations, the
send worker and the callback applier keeping up, and the provider configured. Never a secret,
never an error's text (it could name hosts or users): each part says ok or what to look at."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Case, F, Min, When
from django.utils import timezone

from campaigns import conf
from campaigns.kaleyra import config_for, settings_account
from campaigns.kaleyra.client import check_config
from campaigns.kaleyra.config import missing_credentials
from campaigns.models import CallbackInbox
from campaigns.services.senders import campaign_sender_account

DATABASE_TASKS = "django_tasks_db.DatabaseBackend"


def health() -> dict:
    """{"ok": bool, "checks": {name: {"ok": bool, "detail": str, …}}}; ok only if every part is."""
    checks = {"database": _database()}
    if checks["database"]["ok"]:
        checks |= {"migrations": _migrations(), "worker": _worker(), "callbacks": _callbacks()}
    checks["provider"] = _provider()
    if conf.MPM_RATE_REDIS_URL:
        checks["rate"] = _rate_store()
    return {"ok": all(part["ok"] for part in checks.values()), "checks": checks}


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return {"ok": False, "detail": "The database did not answer."}
    return {"ok": True, "detail": "The database answers."}


_all_applied = False  # once true in a process, it stays true: its migrations do not change


def _migrations() -> dict:
    """Building the migration graph reads every migration: done until they are all applied."""
    global _all_applied
    unapplied = [] if _all_applied else _unapplied_migrations()
    _all_applied = not unapplied
    if unapplied:
        return {
            "ok": False,
            "detail": f"{len(unapplied)} migration{'s are' if len(unapplied) > 1 else ' is'} not "
            "applied: run `manage.py migrate`.",
        }
    return {"ok": True, "detail": "Every migration is applied."}


def _unapplied_migrations() -> list:
    executor = MigrationExecutor(connection)
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


def _queue(oldest, *, waiting: str, runner: str, moving: str) -> dict:
    """A queue is healthy while its oldest due item has waited at most MPM_HEALTH_MAX_WAIT;
    longer means nothing is taking items (its `runner` is not running)."""
    waited = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    if waited > conf.MPM_HEALTH_MAX_WAIT:
        return {
            "ok": False,
            "detail": f"{waiting} waiting, the oldest for {waited:.0f} s: is {runner} running?",
            "oldest_wait_seconds": round(waited),
        }
    return {"ok": True, "detail": moving, "oldest_wait_seconds": round(waited)}


def _worker() -> dict:
    if settings.TASKS["default"]["BACKEND"] != DATABASE_TASKS:
        return {"ok": True, "detail": "Tasks run on another backend: not checked here."}
    from django_tasks_db.models import DBTaskResult, get_date_max  # only with that backend

    due = DBTaskResult.objects.ready()
    # A task due "now" is stored with run_after at the end of the calendar: it has waited since
    # it was enqueued; a deferred one since its run_after.
    waiting_since = Case(
        When(run_after=get_date_max(), then=F("enqueued_at")), default=F("run_after")
    )
    return _queue(
        due.aggregate(oldest=Min(waiting_since))["oldest"],
        waiting=f"{due.count()} tasks are",
        runner="a worker (`manage.py db_worker`)",
        moving="Tasks are being taken.",
    )


def _callbacks() -> dict:
    pending = CallbackInbox.objects.filter(processed_at__isnull=True)
    return _queue(
        pending.order_by("id").values_list("received_at", flat=True).first(),
        waiting="Callbacks are",
        runner="the applier (`manage.py apply_callbacks`)",
        moving="Callbacks are being applied.",
    )


def _provider() -> dict:
    """Whether campaigns without a sender of their own can send (from the default sender, else
    the settings), naming at most the variables to set (never a value)."""
    try:
        account = campaign_sender_account(None)
    except DatabaseError:
        account = settings_account()
    try:
        check_config(config_for(account))
    except ImproperlyConfigured:
        if account.sender_id is not None:
            detail = (
                "The default sender cannot send: check its SID, its region and its key "
                f"variable {account.api_key_variable}; `manage.py check` says which."
            )
            return {"ok": False, "mode": conf.KALEYRA_MODE, "detail": detail}
        missing = missing_credentials() if conf.KALEYRA_MODE == "live" else []
        detail = (
            f"Set {', '.join(missing)}."
            if missing
            else "Kaleyra's settings cannot send: `manage.py check` says which."
        )
        return {"ok": False, "mode": conf.KALEYRA_MODE, "detail": detail}
    return {"ok": True, "mode": conf.KALEYRA_MODE, "detail": "Sending is configured."}


def _rate_store() -> dict:
    """The Redis the senders share their rate through: without it, no campaign can send."""
    import redis

    try:
        client = redis.Redis.from_url(conf.MPM_RATE_REDIS_URL, socket_timeout=2)
        with client:
            client.ping()
    except (redis.RedisError, ValueError):
        return {"ok": False, "detail": "The Redis in MPM_RATE_REDIS_URL did not answer."}
    return {"ok": True, "detail": "The Redis the senders share their rate through answers."}
