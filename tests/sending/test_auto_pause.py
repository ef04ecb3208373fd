"""Auto-pause: when more than MPM_AUTO_PAUSE_SHARE of a run's first MPM_AUTO_PAUSE_SAMPLE
answers failed, the campaign is paused with the reason in plain words, before the rest go."""

import pytest

from campaigns.models import Campaign, Message
from campaigns.recipients import RecipientInput, campaign_queue_recipients
from campaigns.services import campaign_send, run_options
from tests.sending.test_engine import numbers


def queue(campaign, phones):
    campaign_queue_recipients(campaign, [RecipientInput(p, line=n) for n, p in enumerate(phones)])


@pytest.fixture
def sample_of_ten(settings):
    settings.MPM_AUTO_PAUSE_SAMPLE = 10
    settings.MPM_AUTO_PAUSE_SHARE = 0.2
    settings.MPM_FREQUENCY_CAP_HOURS = 0


def test_early_failures_pause_the_campaign_saying_why_and_the_rest_wait(
    provider, campaign, sample_of_ten
):
    for _ in range(10):
        provider.answer_error("WA400", delay=0.02)
    for _ in range(290):
        provider.answer(delay=0.02)
    queue(campaign, numbers(300))
    summary = campaign_send(campaign, options=run_options(concurrency=1, rate=0))

    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.PAUSED
    assert campaign.paused_reason.startswith("Paused automatically: 10 of the first ")
    assert "failed (over 20%). Most common: WA400 (10). Fix the cause, then resume." in (
        campaign.paused_reason
    )
    assert summary.failed == 10
    assert len(provider.requests) < 300  # the rest were not sent
    assert Message.objects.filter(campaign=campaign, state="queued").exists()


def test_failures_within_the_share_do_not_pause(provider, campaign, sample_of_ten):
    provider.answer_error("WA400")
    for _ in range(29):
        provider.answer()
    queue(campaign, numbers(30))
    campaign_send(campaign, options=run_options(concurrency=1, rate=0))
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED
    assert len(provider.requests) == 30


def test_a_sample_of_zero_never_pauses(provider, campaign, settings):
    settings.MPM_AUTO_PAUSE_SAMPLE = 0
    for _ in range(20):
        provider.answer_error("WA400")
    queue(campaign, numbers(20))
    campaign_send(campaign, options=run_options(concurrency=1, rate=0))
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.COMPLETED
