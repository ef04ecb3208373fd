"""GET /healthz: no login, every part of the deployment checked, 503 when one fails, and never a
secret in the answer."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CallbackInbox
from tests.support.provider import API_KEY

pytestmark = pytest.mark.django_db

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def healthz(client):
    response = client.get("/healthz")
    return response.status_code, json.loads(response.content)


def test_a_healthy_deployment_answers_200_without_login(client, kaleyra_settings):
    status, report = healthz(client)
    assert status == 200 and report["ok"] is True
    assert set(report["checks"]) == {"database", "migrations", "worker", "callbacks", "provider"}
    assert report["checks"]["provider"] == {
        "ok": True,
        "mode": "live",
        "detail": "Sending is configured.",
    }


def test_the_redis_the_rate_is_shared_through_is_checked_when_configured(
    client, kaleyra_settings, redis_url
):
    kaleyra_settings.MPM_RATE_REDIS_URL = redis_url
    status, report = healthz(client)
    assert (status, report["checks"]["rate"]["ok"]) == (200, True)

    kaleyra_settings.MPM_RATE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    status, report = healthz(client)
    assert status == 503
    assert report["checks"]["rate"] == {
        "ok": False,
        "detail": "The Redis in MPM_RATE_REDIS_URL did not answer.",
    }


def test_it_never_shows_a_secret(client, kaleyra_settings):
    kaleyra_settings.KALEYRA_CALLBACK_PASSWORD = ["callback-secret"]
    text = client.get("/healthz").content.decode()
    assert API_KEY not in text and "callback-secret" not in text
    assert kaleyra_settings.KALEYRA_SID not in text


def test_live_mode_without_credentials_is_unhealthy(client, settings):
    settings.KALEYRA_MODE = "live"
    status, report = healthz(client)
    assert status == 503 and report["ok"] is False
    assert report["checks"]["provider"]["detail"] == (
        "Set KALEYRA_SID, KALEYRA_API_KEY, KALEYRA_SENDER."
    )


def test_a_broken_setting_is_named_without_its_value(client, kaleyra_settings):
    kaleyra_settings.KALEYRA_BASE_URL = "kaleyra-internal.corp:not-a-port"
    status, report = healthz(client)
    assert status == 503
    assert "kaleyra-internal" not in json.dumps(report)
    assert "manage.py check" in report["checks"]["provider"]["detail"]


def test_a_task_nobody_takes_means_no_worker(client, kaleyra_settings):
    from django_tasks_db.models import DBTaskResult

    from campaigns.tasks import send_campaign_task

    kaleyra_settings.TASKS = DB_TASKS
    send_campaign_task.enqueue(1)  # due now: stored with run_after at the calendar's end
    status, report = healthz(client)
    assert status == 200  # just queued: a worker has not had time yet
    assert 0 <= report["checks"]["worker"]["oldest_wait_seconds"] <= 5
    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(minutes=5))
    status, report = healthz(client)
    assert status == 503
    assert report["checks"]["worker"]["ok"] is False
    assert "is a worker (`manage.py db_worker`) running?" in report["checks"]["worker"]["detail"]
    assert report["checks"]["worker"]["oldest_wait_seconds"] == 300


def test_a_deferred_task_counts_from_when_it_became_due(client, kaleyra_settings):
    from django_tasks_db.models import DBTaskResult

    from campaigns.tasks import send_campaign_task

    kaleyra_settings.TASKS = DB_TASKS
    send_campaign_task.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue(1)
    DBTaskResult.objects.update(
        enqueued_at=timezone.now() - timedelta(hours=2),
        run_after=timezone.now() - timedelta(minutes=3),
    )
    status, report = healthz(client)
    assert status == 503 and report["checks"]["worker"]["oldest_wait_seconds"] == 180


def test_a_task_due_later_is_not_a_missing_worker(client, kaleyra_settings):
    from django_tasks_db.models import DBTaskResult

    from campaigns.tasks import send_campaign_task

    kaleyra_settings.TASKS = DB_TASKS
    send_campaign_task.using(run_after=timezone.now() + timedelta(minutes=30)).enqueue(1)
    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(hours=1))
    assert healthz(client)[0] == 200


def test_callbacks_waiting_too_long_mean_no_applier(client, kaleyra_settings):
    CallbackInbox.objects.create(kind="kaleyra", body="{}")
    assert healthz(client)[0] == 200
    CallbackInbox.objects.update(received_at=timezone.now() - timedelta(minutes=10))
    status, report = healthz(client)
    assert status == 503 and "apply_callbacks" in report["checks"]["callbacks"]["detail"]
    CallbackInbox.objects.update(processed_at=timezone.now())
    assert healthz(client)[0] == 200


def test_unapplied_migrations_are_unhealthy(client, kaleyra_settings, monkeypatch):
    from campaigns.services import health

    monkeypatch.setattr(health, "_all_applied", False)  # another test's request saw them all
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connection)
    last = recorder.migration_qs.filter(app="campaigns").order_by("-id").first()
    last.delete()  # rolled back with the test's transaction
    status, report = healthz(client)
    assert status == 503
    assert report["checks"]["migrations"] == {
        "ok": False,
        "detail": "1 migration is not applied: run `manage.py migrate`.",
    }


def test_healthz_takes_get_only(client):
    assert client.post("/healthz").status_code == 405
