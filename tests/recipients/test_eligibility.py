"""Who a test send may go to: opt-outs and Meta's US rule hold, the frequency cap does not."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import OptOut
from campaigns.recipients import eligibility
from campaigns.selectors import campaign_for_sending
from tests.support.factories import make_campaign, make_message

pytestmark = pytest.mark.django_db

ASHA = "+919876543210"
US_NUMBER = "+12015550123"


def test_a_test_send_to_an_ordinary_number_may_go():
    assert eligibility.refusal_for_test_send(ASHA) == ""


def test_a_test_send_to_an_opted_out_number_says_when_and_why():
    opt_out = OptOut.objects.create(phone=ASHA, reason=OptOut.Reason.STOP_KEYWORD, keyword="STOP")
    on = timezone.make_aware(datetime(2025, 5, 6, 12, 0))
    OptOut.objects.filter(pk=opt_out.pk).update(created_at=on)

    assert eligibility.refusal_for_test_send(ASHA) == (
        "Not sent: this number opted out on 2025-05-06 (Replied with a stop word)"
    )
    # The number as typed finds the same opt-out.
    assert eligibility.refusal_for_test_send("+91 98765 43210") == (
        eligibility.refusal_for_test_send(ASHA)
    )


def test_a_test_send_to_a_us_number_is_refused_while_the_us_rule_is_on(settings):
    settings.MPM_SKIP_US_RECIPIENTS = True
    refusal = eligibility.refusal_for_test_send(US_NUMBER)
    assert refusal == f"Not sent: {eligibility.US_SKIP_REASON}"

    settings.MPM_SKIP_US_RECIPIENTS = False
    assert eligibility.refusal_for_test_send(US_NUMBER) == ""


def test_a_test_send_to_a_canadian_plus_one_number_may_go(settings):
    settings.MPM_SKIP_US_RECIPIENTS = True
    assert eligibility.refusal_for_test_send("+14165550123") == ""


def test_a_test_send_ignores_the_frequency_cap(settings):
    settings.MPM_FREQUENCY_CAP_HOURS = 24
    make_message(make_campaign(), ASHA, claimed_at=timezone.now() - timedelta(hours=1))
    campaign = campaign_for_sending(make_campaign().pk)
    assert eligibility.skip_reason(campaign, ASHA).startswith("skipped (frequency cap)")

    assert eligibility.refusal_for_test_send(ASHA) == ""


def test_a_test_send_to_a_number_that_is_not_one_says_why():
    refusal = eligibility.refusal_for_test_send("98765 43210")
    assert refusal.startswith("Not sent: ")
    assert "country code" in refusal
