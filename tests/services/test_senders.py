"""Senders: which one a campaign goes out as, the key its variable holds (never stored or shown),
the start-up check that names a missing key variable, the rules a sender meets, and the data
migration that turns the single-sender settings into the default sender."""

import importlib
import json

import pytest
from django.core import checks
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from campaigns.kaleyra import config_for
from campaigns.models import Sender
from campaigns.services import CampaignNotRunnable, sending_config
from campaigns.services.senders import campaign_sender_account, sender_account
from tests.support.factories import make_campaign, make_sender
from tests.support.provider import API_KEY, SENDER, SID

pytestmark = pytest.mark.django_db
BRAND2_KEY = "brand2-secret-0b9d4e"


# --- which sender, which key ----------------------------------------------------------------------


def test_with_no_sender_at_all_a_campaign_sends_from_the_settings_as_before(kaleyra_settings):
    config = sending_config(make_campaign())
    assert (config.sid, config.sender, config.api_key) == (SID, SENDER, API_KEY)


def test_a_campaign_without_a_sender_goes_out_from_the_default_one(kaleyra_settings):
    make_sender(business_number="+919000000009")  # not the default
    default = make_sender(business_number="+919000000005", sid="HXDEFAULT", is_default=True)
    config = sending_config(make_campaign())
    assert (config.sid, config.sender) == ("HXDEFAULT", default.business_number)
    assert config.api_key == API_KEY  # KALEYRA_API_KEY, through the settings
    assert config.messages_url.endswith("/v2/HXDEFAULT/whatsapp/+919000000005/messages")


def test_a_campaign_sent_from_the_default_sender_keeps_it_when_the_default_changes(
    provider, settings
):
    from campaigns.recipients import RecipientInput, campaign_queue_recipients
    from campaigns.services import campaign_send, run_options

    settings.MPM_FREQUENCY_CAP_HOURS = 0
    first = make_sender(business_number="+919000000005", is_default=True)
    campaign = make_campaign()
    campaign_queue_recipients(campaign, [RecipientInput("+919876543210", line=1)])
    provider.answer()
    campaign_send(campaign, options=run_options(rate=0))
    campaign.refresh_from_db()
    assert campaign.sender == first  # what its results name
    Sender.objects.filter(pk=first.pk).update(is_default=False)
    make_sender(business_number="+919000000006", is_default=True)
    assert sending_config(campaign).sender == "+919000000005"


def test_a_senders_key_is_read_from_the_variable_it_names(kaleyra_settings, monkeypatch):
    monkeypatch.setenv("KALEYRA_API_KEY_BRAND2", BRAND2_KEY)
    sender = make_sender(api_key_variable="KALEYRA_API_KEY_BRAND2", region="eu")
    kaleyra_settings.KALEYRA_BASE_URL = ""
    config = sending_config(make_campaign(sender=sender))
    assert config.api_key == BRAND2_KEY
    assert config.base_url == "https://api.eu.kaleyra.io"
    assert BRAND2_KEY not in repr(config)  # tracebacks and logs never show it
    # Nothing of the key is in the database.
    row = Sender.objects.filter(pk=sender.pk).values().get()
    assert BRAND2_KEY not in str(row)


def test_a_missing_key_variable_refuses_the_send_naming_the_variable(kaleyra_settings, monkeypatch):
    monkeypatch.delenv("KALEYRA_API_KEY_BRAND3", raising=False)
    sender = make_sender(display_name="Brand 3", api_key_variable="KALEYRA_API_KEY_BRAND3")
    with pytest.raises(CampaignNotRunnable) as refused:
        sending_config(make_campaign(sender=sender))
    assert "KALEYRA_API_KEY_BRAND3, which is not set" in str(refused.value)
    assert "Brand 3" in str(refused.value)


def test_an_inactive_sender_is_refused_in_plain_words(kaleyra_settings):
    sender = make_sender(display_name="Old brand", active=False)
    with pytest.raises(CampaignNotRunnable, match=r"Old brand .* is inactive"):
        sending_config(make_campaign(sender=sender))


def test_the_sandbox_sends_as_the_sender_with_its_own_key(settings):
    settings.KALEYRA_MODE = "sandbox"
    sender = make_sender(api_key_variable="KALEYRA_API_KEY_UNSET_IN_SANDBOX")
    config = config_for(campaign_sender_account(make_campaign(sender=sender)))
    assert config.sender == sender.business_number
    assert config.api_key == "sandbox"


def test_the_senders_rate_is_the_runs_rate(kaleyra_settings):
    sender = make_sender(rate_per_second=250)
    assert sender_account(sender).rate_per_second == 250.0


# --- the start-up check ---------------------------------------------------------------------------


def check_messages(id_: str):
    return [m for m in checks.run_checks() if m.id == id_]


def test_an_active_senders_missing_key_variable_is_a_check_error_naming_it(
    kaleyra_settings, monkeypatch
):
    monkeypatch.setenv("KALEYRA_API_KEY_BRAND4", "")  # set but empty counts as missing
    make_sender(display_name="Brand 4", api_key_variable="KALEYRA_API_KEY_BRAND4")
    [error] = check_messages("campaigns.E003")
    assert error.is_serious()
    assert "KALEYRA_API_KEY_BRAND4" in error.msg and "Brand 4" in error.msg
    assert "KALEYRA_API_KEY_BRAND4" in error.hint


def test_the_check_is_clean_once_the_variable_holds_a_key_and_never_shows_it(
    kaleyra_settings, monkeypatch
):
    monkeypatch.setenv("KALEYRA_API_KEY_BRAND4", BRAND2_KEY)
    make_sender(api_key_variable="KALEYRA_API_KEY_BRAND4")
    make_sender(api_key_variable="KALEYRA_API_KEY_GONE", active=False)  # inactive: not checked
    messages = checks.run_checks()
    assert not [m for m in messages if m.id == "campaigns.E003"]
    assert all(BRAND2_KEY not in f"{m.msg} {m.hint}" for m in messages)


def test_with_an_active_default_sender_the_single_sender_settings_are_not_required(
    kaleyra_settings, monkeypatch
):
    kaleyra_settings.KALEYRA_SENDER = kaleyra_settings.KALEYRA_SID = ""
    kaleyra_settings.KALEYRA_API_KEY = ""
    monkeypatch.setenv("KALEYRA_API_KEY_MAIN", BRAND2_KEY)
    make_sender(api_key_variable="KALEYRA_API_KEY_MAIN", is_default=True)
    assert not check_messages("campaigns.E002")
    assert not check_messages("campaigns.E003")
    # Without the default, campaigns without a sender need the settings again.
    Sender.objects.update(is_default=False)
    assert check_messages("campaigns.E002")


def test_the_sandbox_needs_no_key_variable(settings):
    settings.KALEYRA_MODE = "sandbox"
    make_sender(api_key_variable="KALEYRA_API_KEY_NOT_SET_ANYWHERE")
    assert not check_messages("campaigns.E003")


# --- a sender's rules -----------------------------------------------------------------------------


def problems_of(**fields) -> dict[str, list[str]]:
    values = {
        "display_name": "Brand",
        "business_number": "+919000000011",
        "region": "in",
        "sid": "HX1",
        "rate_per_second": 80,
        **fields,
    }
    try:
        Sender(**values).full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


def test_a_valid_sender_has_no_problem():
    assert problems_of() == {}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"rate_per_second": 79}, "rate_per_second", "at least 80"),
        ({"rate_per_second": 1001}, "rate_per_second", "at most 1,000"),
        ({"business_number": "919000000011"}, "business_number", "E.164"),
        ({"business_number": "+91 90000 00011"}, "business_number", "E.164"),
        ({"api_key_variable": "DJANGO_SECRET_KEY"}, "api_key_variable", "KALEYRA_API_KEY_"),
        ({"api_key_variable": "kaleyra_api_key_x"}, "api_key_variable", "capital letters"),
        ({"region": "us"}, "region", "not a valid choice"),
        ({"is_default": True, "active": False}, "active", "default sender must be active"),
    ],
)
def test_a_sender_breaking_a_rule_is_told_in_plain_words(fields, field, words):
    problems = problems_of(**fields)
    assert any(words in message for message in problems[field]), problems


def test_only_one_sender_is_the_default():
    make_sender(is_default=True)
    problems = problems_of(is_default=True)
    assert problems["__all__"] == ["Another sender is the default already: only one can be."]


def test_a_business_number_belongs_to_one_sender():
    make_sender(business_number="+919000000011")
    assert "business_number" in problems_of(business_number="+919000000011")


# --- the data migration ---------------------------------------------------------------------------


def migrate_settings():
    """Run migration 0029's data step with the models as that migration left them."""
    module = importlib.import_module("campaigns.migrations.0029_senders")
    state = MigrationLoader(connection).project_state(("campaigns", "0029_senders"))
    module.default_sender_from_settings(state.apps, None)


def test_the_single_sender_settings_become_the_default_sender(settings):
    settings.KALEYRA_SENDER = "919000000001"  # Kaleyra's own spelling, without the +
    settings.KALEYRA_SID = "HXLIVE1"
    settings.KALEYRA_REGION = "EU"
    settings.KALEYRA_RATE_PER_SECOND = 250
    settings.KALEYRA_API_KEY = "the-live-key-never-stored"
    migrate_settings()
    sender = Sender.objects.get()
    assert (sender.business_number, sender.sid, sender.region) == ("+919000000001", "HXLIVE1", "eu")
    assert (sender.rate_per_second, sender.api_key_variable) == (250, "KALEYRA_API_KEY")
    assert sender.is_default and sender.active
    assert "the-live-key-never-stored" not in str(Sender.objects.values().get())
    # The existing setup sends as before: same number, SID and key.
    settings.KALEYRA_MODE, settings.KALEYRA_BASE_URL = "live", "https://kaleyra.test"
    config = sending_config(make_campaign())
    assert (config.sender, config.sid, config.api_key) == (
        "+919000000001",
        "HXLIVE1",
        "the-live-key-never-stored",
    )


def test_no_rate_limit_in_the_settings_becomes_metas_default_tier(settings):
    settings.KALEYRA_SENDER, settings.KALEYRA_RATE_PER_SECOND = "+919000000001", 0
    migrate_settings()
    assert Sender.objects.get().rate_per_second == 80


@pytest.mark.parametrize("number", ["", "  ", "not a number"])
def test_without_a_sender_number_in_the_settings_the_migration_makes_none(settings, number):
    settings.KALEYRA_SENDER = number
    migrate_settings()
    assert not Sender.objects.exists()


def test_the_migration_leaves_existing_senders_alone(settings):
    make_sender(business_number="+919000000077")
    settings.KALEYRA_SENDER = "+919000000001"
    migrate_settings()
    assert list(Sender.objects.values_list("business_number", flat=True)) == ["+919000000077"]


# --- /healthz ---------------------------------------------------------------------------------------


def test_healthz_checks_the_default_sender_rather_than_the_settings(kaleyra_settings, monkeypatch):
    from campaigns.services.health import health

    kaleyra_settings.KALEYRA_SENDER = kaleyra_settings.KALEYRA_SID = ""
    monkeypatch.delenv("KALEYRA_API_KEY_MAIN", raising=False)
    make_sender(api_key_variable="KALEYRA_API_KEY_MAIN", is_default=True)
    provider = health()["checks"]["provider"]
    assert not provider["ok"] and "KALEYRA_API_KEY_MAIN" in provider["detail"]
    monkeypatch.setenv("KALEYRA_API_KEY_MAIN", BRAND2_KEY)
    provider = health()["checks"]["provider"]
    assert provider["ok"] and BRAND2_KEY not in json.dumps(provider)
