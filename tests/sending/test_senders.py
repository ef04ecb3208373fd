"""Several senders through the real engine and client, against the stand-in on 127.0.0.1: each
campaign goes out from its own sender's number with that sender's key, each sender paced at its
own rate through its own slot (a RateSlot row, or a Redis key)."""

import threading
import time

import pytest
import redis
from aiohttp import web
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.kaleyra import documented
from campaigns.models import Message, RateSlot
from campaigns.selectors import campaign_for_sending
from campaigns.sending.ratelimit import REDIS_KEY
from campaigns.services import campaign_send, run_options
from tests.sending.test_engine import numbers, queue
from tests.sending.test_ratelimit import busiest_second
from tests.support.factories import make_campaign, make_sender
from tests.support.provider import ACCEPTED_ID, API_KEY, SENDER

transactional = pytest.mark.django_db(transaction=True)
BRAND2_KEY = "brand2-key-7c1e"


def record_arrivals(provider) -> list[tuple[str, str, float]]:
    """(path, api-key header, arrival time) of every request the stand-in answers (202)."""
    arrivals = []

    async def respond(request):
        arrivals.append((request.path, request.headers.get("api-key", ""), time.time()))
        return web.json_response(documented.accepted(ACCEPTED_ID), status=202)

    provider.script.answers.append(respond)
    return arrivals


def send_in_thread(campaign, errors: list) -> threading.Thread:
    def run():
        try:
            campaign_send(campaign_for_sending(campaign.pk), options=run_options(concurrency=16))
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@transactional
@pytest.mark.timeout(60)
@pytest.mark.parametrize("store", ["database", "redis"])
def test_two_senders_are_paced_apart_each_at_its_own_rate(
    provider, settings, monkeypatch, request, store
):
    settings.KALEYRA_RATE_PER_SECOND = 80  # not 0, which turns every limit off (stand-ins)
    if store == "redis":
        settings.MPM_RATE_REDIS_URL = request.getfixturevalue("redis_url")
    monkeypatch.setenv("KALEYRA_API_KEY_BRAND2", BRAND2_KEY)
    first = make_sender(business_number=SENDER, is_default=True, rate_per_second=80)
    second = make_sender(
        business_number="+919000000002",
        api_key_variable="KALEYRA_API_KEY_BRAND2",
        rate_per_second=100,
    )
    arrivals = record_arrivals(provider)
    from_default = make_campaign()  # no sender of its own: the default one
    from_second = make_campaign(sender=second)
    queue(from_default, numbers(120))
    queue(from_second, numbers(150, start=5000))

    errors: list = []
    threads = [send_in_thread(c, errors) for c in (from_default, from_second)]
    for thread in threads:
        thread.join(45)
    assert not errors and not any(t.is_alive() for t in threads)

    by_number = {first.number_digits: [], second.number_digits: []}
    for path, key, at in arrivals:
        number = path.split("/whatsapp/")[1].split("/")[0].lstrip("+")
        by_number[number].append((key, at))
    sent_first, sent_second = by_number[first.number_digits], by_number[second.number_digits]
    assert len(sent_first) == 120 and len(sent_second) == 150
    # Each request carried its own sender's key (the second's from its own variable).
    assert {key for key, _ in sent_first} == {API_KEY}
    assert {key for key, _ in sent_second} == {BRAND2_KEY}
    # Each number within its own rate …
    assert busiest_second([at for _, at in sent_first]) <= 80
    assert busiest_second([at for _, at in sent_second]) <= 100
    # … and the two were not held to one shared rate: together, more than either allows.
    assert busiest_second([at for *_, at in arrivals]) > 100
    assert Message.objects.filter(state="accepted").count() == 270
    if store == "database":
        assert set(RateSlot.objects.values_list("sender", flat=True)) >= {
            first.number_digits,
            second.number_digits,
        }
    else:
        client = redis.Redis.from_url(settings.MPM_RATE_REDIS_URL)
        for sender in (first, second):
            assert client.exists(REDIS_KEY.format(sender.number_digits))
        client.close()


@transactional
def test_a_campaign_sends_from_its_sender_without_a_query_per_message(
    provider, settings, monkeypatch
):
    """The sender is resolved once per run: the same queries for 5 messages as for 50."""
    settings.KALEYRA_RATE_PER_SECOND = 80
    monkeypatch.setenv("KALEYRA_API_KEY_BRAND2", BRAND2_KEY)
    sender = make_sender(api_key_variable="KALEYRA_API_KEY_BRAND2", rate_per_second=1000)
    arrivals = record_arrivals(provider)
    counts = []
    for size in (5, 50):
        campaign = make_campaign(sender=sender)
        queue(campaign, numbers(size, start=size * 100))
        with CaptureQueriesContext(connection) as captured:
            campaign_send(campaign_for_sending(campaign.pk), options=run_options(concurrency=8))
        sender_reads = [q for q in captured.captured_queries if '"campaigns_sender"' in q["sql"]]
        counts.append(len(sender_reads))
    assert (
        counts[0] == counts[1] <= 2
    )  # the campaign, loaded with its sender (here and in the send)
    assert {path.split("/whatsapp/")[1].split("/")[0] for path, _, _ in arrivals} == {
        sender.business_number
    }


@transactional
def test_a_rate_of_0_in_the_settings_turns_every_limit_off(provider, settings):
    """KALEYRA_RATE_PER_SECOND=0 is the stand-ins' switch: senders' own rates are not applied."""
    settings.KALEYRA_RATE_PER_SECOND = 0
    sender = make_sender(api_key_variable="KALEYRA_API_KEY", rate_per_second=80)
    record_arrivals(provider)
    campaign = make_campaign(sender=sender)
    queue(campaign, numbers(10))
    summary = campaign_send(campaign_for_sending(campaign.pk), options=run_options())
    assert (summary.accepted, summary.rate_limit) == (10, 0)
    assert not RateSlot.objects.exists()
