"""Idempotency-Key: a retried send answers as the first one did and sends nothing new; the
same key with another body or path is refused; concurrent duplicates send once."""

import io
import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from campaigns.api.idempotency import body_hash
from campaigns.models import ApiToken, IdempotencyRecord, Message
from campaigns.services import background
from campaigns.services.api import idempotency_purge
from campaigns.tasks import recover_campaigns_task
from tests.api.conftest import ASHA, RAVI, Api, token_of, user_with
from tests.support.factories import make_campaign

KEY = {"Idempotency-Key": "3f1c1a8e-5a1b-4c47-9d59-0e1b8a1f2d11"}
BODY = {"recipients": [{"phone": ASHA, "ref": "order-1"}]}


def send_path(campaign) -> str:
    return f"/campaigns/{campaign.pk}/send"


@pytest.mark.django_db
def test_the_same_key_twice_sends_once_and_answers_the_same(
    api, provider, django_capture_on_commit_callbacks
):
    provider.answer()
    campaign = make_campaign()
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(send_path(campaign), BODY, headers=KEY)
    assert first.status_code == 202 and not first.has_header("Idempotent-Replayed")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = api.post(
            send_path(campaign), {"recipients": [{"ref": "order-1", "phone": ASHA}]}, headers=KEY
        )
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert callbacks == []  # nothing queued, no send started
    assert Message.objects.count() == 1 and len(provider.requests) == 1


@pytest.mark.django_db
def test_a_refusal_is_replayed_too(api):
    campaign = make_campaign()
    body = {"recipients": [{"phone": "bad"}]}
    first = api.post(send_path(campaign), body, headers=KEY)
    again = api.post(send_path(campaign), body, headers=KEY)
    assert (first.status_code, again.status_code) == (422, 422)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_the_same_key_with_another_body_or_path_is_409(api, provider):
    campaign, other = make_campaign(), make_campaign()
    api.post(send_path(campaign), BODY, headers=KEY)
    response = api.post(send_path(campaign), {"recipients": [{"phone": RAVI}]}, headers=KEY)
    assert response.status_code == 409
    assert "different body" in response.json()["detail"]
    assert response.json()["problems"][0]["field"] == "Idempotency-Key"
    response = api.post(send_path(other), BODY, headers=KEY)
    assert response.status_code == 409
    assert f"POST /api/v1/campaigns/{campaign.pk}/send" in response.json()["detail"]
    assert list(Message.objects.values_list("to", flat=True)) == [ASHA]


@pytest.mark.django_db
def test_keys_are_per_user(api, provider):
    campaign = make_campaign()
    api.post(send_path(campaign), BODY, headers=KEY)
    other = Api(token_of(user_with("send_campaign", username="other")))
    response = other.post(send_path(campaign), {"recipients": [{"phone": RAVI}]}, headers=KEY)
    assert response.status_code == 202 and not response.has_header("Idempotent-Replayed")


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "k" * 256, "clé"])
def test_a_malformed_key_is_422(api, key):
    response = api.post(send_path(make_campaign()), BODY, headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "Idempotency-Key"
    assert "1 to 255 printable ASCII" in response.json()["detail"]
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_failure_on_our_side_forgets_the_key(api, provider, monkeypatch):
    campaign = make_campaign()

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(background, "campaign_queue_and_send", broken)
    response = api.post(send_path(campaign), BODY, headers=KEY)
    assert response.status_code == 500 and response.json()["detail"].startswith("Something")
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()
    assert api.post(send_path(campaign), BODY, headers=KEY).status_code == 202


@pytest.mark.django_db
def test_a_key_still_working_is_409_after_a_wait(api, monkeypatch):
    campaign = make_campaign()
    IdempotencyRecord.objects.create(
        user=ApiToken.objects.get().user,
        key=KEY["Idempotency-Key"],
        method="POST",
        path=f"/api/v1{send_path(campaign)}",
        body_hash=body_hash(json.dumps(BODY).encode()),
    )
    monkeypatch.setattr("campaigns.api.idempotency.WAITS", (0.01, 0.01))
    response = api.post(send_path(campaign), BODY, headers=KEY)
    assert response.status_code == 409 and "still in progress" in response.json()["detail"]


@pytest.mark.django_db
def test_keys_are_kept_a_day_then_purged():
    user = user_with("send_campaign")
    fields = {"user": user, "method": "POST", "path": "/x", "body_hash": "0" * 64}
    IdempotencyRecord.objects.create(
        key="old", created_at=timezone.now() - timedelta(hours=25), **fields
    )
    IdempotencyRecord.objects.create(
        key="new", created_at=timezone.now() - timedelta(hours=23), **fields
    )
    assert idempotency_purge() == 1
    out = io.StringIO()
    call_command("purge_idempotency_keys", stdout=out)
    assert out.getvalue() == "0 Idempotency-Key(s) forgotten.\n"
    IdempotencyRecord.objects.filter(key="new").update(
        created_at=timezone.now() - timedelta(days=2)
    )
    recover_campaigns_task.call()  # the recovery task, which API sends book, purges them too
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_send_once(shop, provider):
    """Several calls with one key at the same moment: one does the work, the others wait for
    its answer and replay it (each thread has its own database connection)."""
    provider.answer(delay=0.3)  # the first call is still sending when the others arrive
    token = token_of(shop)
    campaign = make_campaign()
    start = threading.Barrier(4)
    answers = []

    def call():
        try:
            start.wait()
            response = Api(token).post(send_path(campaign), BODY, headers=KEY)
            answers.append(
                (response.status_code, response.has_header("Idempotent-Replayed"), response.content)
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [status for status, _, _ in answers] == [202] * 4
    assert sorted(replayed for _, replayed, _ in answers) == [False, True, True, True]
    assert len({body for _, _, body in answers}) == 1  # byte for byte
    assert Message.objects.count() == 1 and len(provider.requests) == 1
