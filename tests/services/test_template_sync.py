"""`sync_templates` against Kaleyra-shaped lists served by the stand-in on 127.0.0.1: created,
updated and unchanged templates, a vanished one, a non-MPM one, a status change stopping a
campaign as the status callback does, and a bad page that loses nothing already read."""

from collections import Counter

from django.utils import timezone

from campaigns import tasks, validation
from campaigns.callbacks.effects import apply_template
from campaigns.callbacks.parsing import TemplateStatusUpdate
from campaigns.models import Campaign, MessageTemplate
from campaigns.services.templates import sync_templates
from campaigns.views.composer import composer_templates
from tests.support.factories import make_campaign, make_template
from tests.support.templates import answer_pages, mpm_template, use_waba, utility_template

Status = MessageTemplate.Status


def sending_campaign(template) -> Campaign:
    campaign = make_campaign(template=template)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.SENDING)
    return campaign


def test_templates_from_every_page_are_created_with_their_json(provider, settings, db):
    use_waba(settings)
    first, second = mpm_template("spring_sale"), utility_template()
    answer_pages(provider, [first], [second, mpm_template("draft_sale", status="PENDING")])

    summary = sync_templates()

    assert summary.read and summary.pages == 2 and summary.problems == []
    assert sorted(summary.created) == [
        "draft_sale (en_US)",
        "order_update (en_US)",
        "spring_sale (en_US)",
    ]
    spring = MessageTemplate.objects.get(name="spring_sale")
    assert spring.raw == first and spring.provider_id == first["id"]
    assert spring.status == Status.APPROVED and spring.has_mpm_button
    assert spring.body_variable_count == 2 and spring.header_variable_count == 1
    assert spring.synced_at is not None and spring.vanished_at is None
    assert "Templates synced from Kaleyra (2 page(s)): 3 created" in summary.line()


def test_a_second_sync_of_the_same_list_changes_nothing(provider, settings, db):
    use_waba(settings)
    answer_pages(provider, [mpm_template("a"), mpm_template("b")])
    sync_templates()

    summary = sync_templates()

    assert summary.created == [] and summary.updated == [] and summary.unchanged == 2


def test_a_changed_template_is_updated_by_name_and_language(provider, settings, db):
    use_waba(settings)
    hand_made = make_template(name="spring_sale", language="en_US", footer_text="old")
    answer_pages(
        provider, [mpm_template("spring_sale"), mpm_template("spring_sale", language="pt_BR")]
    )

    summary = sync_templates()

    hand_made.refresh_from_db()
    assert summary.updated == ["spring_sale (en_US)"] and summary.created == ["spring_sale (pt_BR)"]
    assert hand_made.footer_text == "Reply STOP to unsubscribe" and hand_made.provider_id


def test_a_template_missing_from_a_complete_list_vanishes_and_comes_back(provider, settings, db):
    use_waba(settings)
    gone = make_template(name="old_sale")
    campaign = sending_campaign(gone)
    answer_pages(provider, [mpm_template("spring_sale")])

    summary = sync_templates()

    gone.refresh_from_db()
    campaign.refresh_from_db()
    assert summary.vanished == ["old_sale (en_US)"] and gone.vanished_at is not None
    assert MessageTemplate.objects.filter(pk=gone.pk).exists()  # kept, never deleted
    assert campaign.state == Campaign.State.PAUSED
    assert "no longer in Kaleyra's template list" in campaign.paused_reason
    assert gone not in composer_templates()
    assert any(
        "no longer in Kaleyra's template list" in p.message
        for p in validation.template_offer_problems(gone)
    )

    provider.reset()
    answer_pages(provider, [mpm_template("spring_sale"), mpm_template("old_sale")])
    summary = sync_templates()

    gone.refresh_from_db()
    assert summary.reappeared == ["old_sale (en_US)"] and gone.vanished_at is None
    assert gone in composer_templates()


def test_a_template_without_an_mpm_button_is_kept_but_not_offered(provider, settings, db):
    use_waba(settings)
    answer_pages(provider, [utility_template(), mpm_template("spring_sale")])
    sync_templates()

    utility = MessageTemplate.objects.get(name="order_update")
    assert utility.has_mpm_button is False and utility.status == Status.APPROVED
    assert list(composer_templates()) == [MessageTemplate.objects.get(name="spring_sale")]
    assert list(MessageTemplate.objects.for_mpm()) == [
        MessageTemplate.objects.get(name="spring_sale")
    ]
    campaign = make_campaign(template=utility, body_values=["Asha", "A-1"])
    [problem] = [p for p in validation.campaign_problems(campaign) if "MPM" in p.message]
    assert problem.field == "template" and "has no MPM (View items) button" in problem.message


def test_a_paused_template_stops_its_campaigns_as_the_status_callback_does(provider, settings, db):
    use_waba(settings)
    synced = make_template(name="spring_sale")
    by_callback = make_template(name="autumn_sale")
    synced_campaign, callback_campaign = sending_campaign(synced), sending_campaign(by_callback)
    untouched = sending_campaign(make_template(name="winter_sale"))
    answer_pages(
        provider,
        [mpm_template("spring_sale", status="PAUSED"), mpm_template("winter_sale")],
        [mpm_template("autumn_sale")],
    )

    summary = sync_templates()
    apply_template(
        TemplateStatusUpdate("autumn_sale", "en_US", "PAUSED", Status.PAUSED),
        timezone.now(),
        Counter(),
    )

    synced.refresh_from_db()
    synced_campaign.refresh_from_db()
    callback_campaign.refresh_from_db()
    assert synced.status == Status.PAUSED and summary.campaigns_stopped == 1
    assert synced_campaign.state == callback_campaign.state == Campaign.State.PAUSED
    assert synced_campaign.paused_reason == callback_campaign.paused_reason.replace(
        "autumn", "spring"
    )
    assert synced_campaign.paused_reason == (
        "Template spring_sale (en_US) is now paused in WhatsApp. Sending stopped."
    )
    assert Campaign.objects.get(pk=untouched.pk).state == Campaign.State.SENDING


def test_a_rejection_says_why_and_an_approval_makes_a_template_usable(provider, settings, db):
    use_waba(settings)
    rejected = sending_campaign(make_template(name="spring_sale"))
    pending = make_template(name="draft_sale", status=Status.PENDING)
    answer_pages(
        provider,
        [
            mpm_template(
                "spring_sale", status="Submission Rejected", rejected_reason="PROMOTIONAL"
            ),
            mpm_template("draft_sale", status="APPROVED"),
        ],
    )

    sync_templates()

    rejected.refresh_from_db()
    pending.refresh_from_db()
    assert rejected.state == Campaign.State.PAUSED
    assert rejected.paused_reason == (
        "Template spring_sale (en_US) is now rejected in WhatsApp: PROMOTIONAL. Sending stopped."
    )
    assert pending.status == Status.APPROVED and pending in composer_templates()


def test_an_unknown_status_is_named_in_the_report(provider, settings, db):
    use_waba(settings)
    answer_pages(provider, [mpm_template("odd", status="LOCKED")])

    summary = sync_templates()

    assert summary.unknown_statuses == {"odd (en_US)": "LOCKED"}
    assert "unknown status for odd (en_US): 'LOCKED'" in summary.line()
    assert MessageTemplate.objects.get(name="odd").status == Status.PENDING


def test_a_bad_entry_is_named_and_the_rest_synced(provider, settings, db):
    use_waba(settings)
    odd_language = make_template(name="broken", language="en")
    gone = make_template(name="gone")
    answer_pages(provider, [{"name": "broken", "language": "English"}, mpm_template("fine")])

    summary = sync_templates()

    assert summary.read and summary.created == ["fine (en_US)"]
    assert any("Template broken: language 'English'" in p for p in summary.problems)
    # Still listed, under a language we cannot read: not vanished. The other one is.
    odd_language.refresh_from_db()
    assert odd_language.vanished_at is None and summary.vanished == [str(gone)]


def test_an_entry_without_a_name_keeps_every_template_from_vanishing(provider, settings, db):
    use_waba(settings)
    kept = make_template(name="kept")
    answer_pages(provider, [{"language": "en_US", "status": "APPROVED"}, mpm_template("fine")])

    summary = sync_templates()

    kept.refresh_from_db()
    assert summary.created == ["fine (en_US)"] and kept.vanished_at is None
    assert any("had no name, so no template was marked vanished" in p for p in summary.problems)


def test_a_bad_page_keeps_what_was_synced_and_marks_nothing_vanished(provider, settings, db):
    use_waba(settings)
    other = make_template(name="other")
    answer_pages(provider, [mpm_template("spring_sale")], [mpm_template("later")])
    provider.script.answers.pop()  # page 2 is refused instead
    provider.answer_error("RBC001")

    summary = sync_templates()

    assert not summary.read and summary.created == ["spring_sale (en_US)"]
    assert MessageTemplate.objects.filter(name="spring_sale").exists()
    other.refresh_from_db()
    assert other.vanished_at is None and summary.vanished == []
    assert any("HTTP 401" in p for p in summary.problems)
    assert any("no template was marked vanished" in p for p in summary.problems)
    assert summary.line().startswith("Kaleyra's template list could not be read completely")


def test_an_empty_list_marks_nothing_vanished(provider, settings, db):
    use_waba(settings)
    kept = make_template(name="kept")
    answer_pages(provider, [])

    summary = sync_templates()

    kept.refresh_from_db()
    assert summary.read and kept.vanished_at is None
    assert any("list is empty" in p for p in summary.problems)


def test_live_mode_without_credentials_is_a_problem_not_an_error(settings, db):
    settings.KALEYRA_MODE = "live"

    summary = sync_templates()

    assert not summary.read and "KALEYRA_SID" in summary.problems[0]


def test_the_periodic_task_books_its_next_run_then_syncs(provider, settings, db):
    use_waba(settings)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.MPM_TEMPLATE_SYNC_INTERVAL = 600
    answer_pages(provider, [mpm_template("spring_sale")])
    before = timezone.now()

    line = tasks.sync_templates_task.call()

    backend = tasks.sync_templates_task.get_backend()
    [booked] = backend.results
    assert booked.task.func is tasks.sync_templates_task.func
    assert (booked.task.run_after - before).total_seconds() >= 600
    assert "1 created" in line

    settings.MPM_TEMPLATE_SYNC_INTERVAL = 0
    backend.clear()
    tasks.sync_templates_task.call()
    assert backend.results == []


def test_every_senders_account_is_read_and_only_what_none_lists_vanishes(
    provider, settings, db, monkeypatch
):
    from tests.support.factories import make_sender

    monkeypatch.setenv("KALEYRA_API_KEY_BRAND_B", "key-of-brand-b")
    make_sender(display_name="Brand A", sid="HXA", waba_id="WABA-A", is_default=True)
    make_sender(
        display_name="Brand B",
        sid="HXB",
        waba_id="WABA-B",
        api_key_variable="KALEYRA_API_KEY_BRAND_B",
    )
    make_template(name="brand_b_only")
    gone = make_template(name="old_sale")
    provider.answer(200, {"data": [mpm_template("shared"), mpm_template("brand_a_only")]})
    provider.answer(200, {"data": [mpm_template("shared"), mpm_template("brand_b_only")]})

    summary = sync_templates()

    assert summary.read and summary.problems == [], summary.line()
    paths = sorted(request.path for request in provider.requests)
    assert paths == [
        "/v2/HXA/whatsapp/WABA-A/message_templates",
        "/v2/HXB/whatsapp/WABA-B/message_templates",
    ]
    keys = {r.path.split("/")[2]: r.headers["api-key"] for r in provider.requests}
    assert keys["HXB"] == "key-of-brand-b" and keys["HXA"] != "key-of-brand-b"
    assert sorted(summary.created) == ["brand_a_only (en_US)", "shared (en_US)"]
    assert MessageTemplate.objects.filter(name="shared").count() == 1
    assert MessageTemplate.objects.get(name="brand_b_only").vanished_at is None
    gone.refresh_from_db()
    assert gone.vanished_at is not None and summary.vanished == ["old_sale (en_US)"]
