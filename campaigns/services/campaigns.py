"""The use cases: check a campaign, preview it, dry-run it, send it (whole or a test), pause and
cancel it.

Views, the admin, the management command and background tasks all call these functions (and
`recipients` to queue who gets it); none of them builds a payload or talks HTTP itself. Every
send, a test send included, runs through the one pipeline in `campaigns.sending`.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from campaigns import conf, recipients, validation
from campaigns.audiences.segments import SegmentRulesError
from campaigns.kaleyra import KaleyraConfig, SenderAccount, SendResult, config_for
from campaigns.kaleyra.client import check_config
from campaigns.models import Campaign, Message, Sender
from campaigns.payload import MpmContent, pretty
from campaigns.recipients import normalise_phone, refusal_for_test_send
from campaigns.selectors import campaign_content, campaign_for_sending
from campaigns.selectors.senders import default_sender
from campaigns.sending import run as engine
from campaigns.sending.bodies import request_body
from campaigns.sending.claims import Claimed
from campaigns.sending.run import ProgressCallback, RunOptions, SendSummary
from campaigns.services.senders import campaign_sender_account, send_rate

SAMPLE_RECIPIENT = "+919876543210"


class CampaignNotSendable(Exception):
    """The campaign breaks at least one rule; nothing was sent."""

    def __init__(self, problems: list[validation.Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    @property
    def headline(self) -> str:
        """What to say above the problems. A refused recipient ("Not sent: this number opted
        out …") says it all; problems of the campaign are things to fix first."""
        if all(problem.field == "to" for problem in self.problems):
            return ""
        return "Nothing was sent. Fix these first:"


def campaign_check(campaign: Campaign) -> list[validation.Problem]:
    return validation.campaign_problems(campaign)


def not_sendable_reason(problems: list[validation.Problem]) -> str:
    """Why a sending campaign was stopped, as its page and the API show it."""
    return "Stopped: " + " ".join(problem.message for problem in problems)


def campaigns_recheck() -> int:
    """Check every sending campaign again after the catalog changed (a feed import, an edit in
    the admin): one whose product became unavailable or inactive stops, naming it, before its
    next batch (catalog-notes M8: WhatsApp shows such items as unavailable). Returns how many
    stopped."""
    stopped = 0
    for campaign_id in Campaign.objects.sending().values_list("pk", flat=True):
        errors = validation.errors_only(campaign_check(campaign_for_sending(campaign_id)))
        if errors:
            stopped += Campaign.objects.filter(pk=campaign_id).pause(not_sendable_reason(errors))
    return stopped


CHECKED_FOR = 2.0  # seconds a checked campaign is reused while its row is unchanged
_checked: dict[int, tuple] = {}


def campaign_checked(campaign_id: int) -> tuple[Campaign, list[validation.Problem]]:
    """The campaign as sends need it and the errors that keep it from being sent, reused for
    CHECKED_FOR seconds while its state stays the same (and, for a draft, which may still be
    edited, its `updated_at`): a shop triggering an always-on campaign 100 times a second would
    otherwise load and check it again on every call (14 ms of the 26 ms of CPU an API call
    cost). Raises Campaign.DoesNotExist."""
    row = Campaign.objects.filter(pk=campaign_id).values_list("state", "updated_at").first()
    if row is None:
        raise Campaign.DoesNotExist(f"There is no campaign {campaign_id}.")
    if row[0] != Campaign.State.DRAFT:  # only a draft's content changes
        row = row[:1]
    now = time.monotonic()
    seen = _checked.get(campaign_id)
    if seen is not None and seen[0] == row and now - seen[1] < CHECKED_FOR:
        return seen[2], seen[3]
    campaign = campaign_for_sending(campaign_id)
    errors = validation.errors_only(campaign_check(campaign))
    _checked[campaign_id] = (row, now, campaign, errors)
    return campaign, errors


def campaign_preview(campaign: Campaign, *, to: str = SAMPLE_RECIPIENT) -> str:
    """The request body (pretty-printed) the engine would send to `to`; never the key.

    Where the campaign leaves `ref` empty, each message carries its own id there; the preview
    shows that placeholder."""
    return content_preview(campaign_content(campaign), to=to)


def content_preview(content: MpmContent, *, to: str = SAMPLE_RECIPIENT) -> str:
    """`campaign_preview` for content that may not be saved yet (the composer's live preview)."""
    sample = Claimed("<message id>", to, {}, 0)
    return pretty(request_body(content, sample))


# --- sending ------------------------------------------------------------------------------------


class CampaignNotRunnable(Exception):
    """The campaign's state (e.g. paused or cancelled) or Kaleyra's settings do not allow this."""


def campaign_queueable(campaign: Campaign):
    """Refuse, before any recipient is queued, a campaign that can never send again: a queued
    Message of a cancelled campaign would wait forever."""
    state = Campaign.objects.filter(pk=campaign.pk).values_list("state", flat=True).first()
    if state == Campaign.State.CANCELLED:
        raise CampaignNotRunnable(
            "The campaign is cancelled: nothing more can be sent from it. Clone it to send again."
        )


def sending_setup(campaign: Campaign | None = None) -> tuple[SenderAccount, KaleyraConfig]:
    """The sender `campaign` goes out as (None: a campaign without one) and Kaleyra's settings
    for it, checked before anything starts or is recorded: an inactive sender, a missing key
    variable or SID, an unknown region, a URL or key the client cannot send with is
    CampaignNotRunnable. One query at most, once per send (never per message)."""
    try:
        account = campaign_sender_account(campaign)
        config = config_for(account)
        check_config(config)
    except ImproperlyConfigured as exc:
        raise CampaignNotRunnable(f"Sending is not configured: {exc}") from None
    return account, config


def sending_config(campaign: Campaign | None = None) -> KaleyraConfig:
    """`sending_setup`'s Kaleyra settings alone."""
    return sending_setup(campaign)[1]


def campaign_use_sender(campaign: Campaign, *, sender: Sender):
    """Send `campaign` from `sender` from now on (an API call's `sender`). Refused in plain
    words for an inactive sender, and for a campaign that is sending or paused from another
    one: a run resolves its sender once, as it starts."""
    if not sender.active:
        raise CampaignNotRunnable(f"Sender {sender} is inactive: choose an active sender.")
    current = campaign.sender if campaign.sender_id else default_sender()
    if current is not None and current.pk == sender.pk:
        return
    now_from = str(current) if current else "the KALEYRA_* settings"
    if campaign.state in (Campaign.State.SENDING, Campaign.State.PAUSED):
        raise CampaignNotRunnable(
            f"The campaign is {campaign.get_state_display().lower()} from {now_from}; it keeps "
            "that sender until it completes (or clone it to send from another)."
        )
    if campaign.messages.real().exists():
        # Its results name the sender its messages went out from: one campaign, one sender.
        raise CampaignNotRunnable(
            f"The campaign went out from {now_from} already; clone it to send from another."
        )
    Campaign.objects.filter(pk=campaign.pk).update(sender=sender, updated_at=timezone.now())
    campaign.sender = sender


def run_options(**overrides) -> RunOptions:
    """The engine's options from settings; callers override what the user chose. The rate is
    left to the campaign's sender (its `rate_per_second`) unless a caller gives one."""
    options = {"concurrency": conf.MPM_SEND_CONCURRENCY, "rate": None}
    options.update({k: v for k, v in overrides.items() if v is not None})
    return RunOptions(**options)


def campaign_send(
    campaign: Campaign,
    *,
    resume: bool = False,
    options: RunOptions | None = None,
    progress: ProgressCallback | None = None,
) -> SendSummary:
    """Send every queued Message of a valid campaign through the engine.

    A paused campaign goes on only with `resume`; a cancelled one never does.
    """
    campaign = campaign_for_sending(campaign.pk)
    errors = validation.errors_only(campaign_check(campaign))
    if errors:
        # A campaign already sending (scheduled, resumed, recovered) stops, saying why.
        Campaign.objects.filter(pk=campaign.pk).pause(not_sendable_reason(errors))
        raise CampaignNotSendable(errors)
    account, config = sending_setup(campaign)
    campaign_start(campaign, resume=resume)
    if campaign.sender_id is None and account.sender_id is not None:
        # It goes out from today's default sender: kept, so that its results (and a later run)
        # name the sender its messages really went out from.
        Campaign.objects.filter(pk=campaign.pk, sender=None).update(sender=account.sender_id)
    campaign_queue_audience(campaign)
    options = options or run_options()
    if options.rate is None:  # each sender at its own rate, paced apart from the others
        options = replace(options, rate=send_rate(account))
    if campaign.triggered and not options.stay_open:
        options = replace(options, stay_open=conf.MPM_TRIGGERED_STAY_OPEN)
    return engine.run(
        campaign, campaign_content(campaign), config, options, progress_callback=progress
    )


def campaign_queue_audience(campaign: Campaign) -> recipients.QueueReport | None:
    """Queue the campaign's list or segment, evaluated now (when the send starts, so a segment
    scheduled for later matches who is in it then), once: the mark is set after queueing, and
    queueing again after a crash queues no number twice. None when there is nothing to queue."""
    if campaign.audience_queued_at is not None:
        return None
    if campaign.audience_list_id is None and campaign.audience_segment_id is None:
        return None
    try:
        contacts = recipients.campaign_audience(campaign)
        report = recipients.campaign_queue_recipients(
            campaign, recipients.contact_recipients(contacts), valid_only=True, from_contacts=True
        )
    except SegmentRulesError as exc:
        # A list or campaign its rules name was deleted since: wait for the marketer (a resume
        # evaluates it again) rather than complete having sent nothing.
        reason = f"Its segment “{campaign.audience_segment}” cannot be evaluated: {exc}."
        campaign_pause(campaign, reason=reason[:300])
        raise CampaignNotRunnable(reason) from exc
    campaign.audience_queued_at = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(audience_queued_at=campaign.audience_queued_at)
    return report


def campaign_start(campaign: Campaign, *, resume: bool = False):
    """Move the campaign to `sending`, refusing what its state does not allow. One sending
    already is left as it is (an always-on campaign's every trigger would rewrite its row)."""
    if Campaign.objects.filter(pk=campaign.pk).sending().exists():
        campaign.state = Campaign.State.SENDING
        return
    if not Campaign.objects.filter(pk=campaign.pk).start(resume=resume):
        campaign.refresh_from_db(fields=["state", "paused_reason"])
        if campaign.state == Campaign.State.PAUSED:
            raise CampaignNotRunnable(
                f"The campaign is paused ({campaign.paused_reason or 'by an operator'}); "
                "resume it to go on."
            )
        raise CampaignNotRunnable(f"The campaign is {campaign.get_state_display().lower()}.")
    campaign.state = Campaign.State.SENDING


def campaign_start_scheduled(campaign_id: int, send_at) -> bool:
    """Start the campaign booked for `send_at` (True), with its recovery booked; False when it
    is no longer scheduled for that time."""
    return bool(Campaign.objects.filter(pk=campaign_id).start_scheduled(send_at))


SCHEDULE_CANCELLED = "The schedule was cancelled before this message was sent."


def campaign_unschedule(campaign: Campaign, *, detail: str = SCHEDULE_CANCELLED) -> int:
    """A scheduled campaign back to a draft; what it had queued is skipped (a later send queues
    its recipients again). Returns how many were skipped; 0 when it was not scheduled."""
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign.pk).unschedule():
            return 0
        campaign.state, campaign.send_at = Campaign.State.DRAFT, None
        return campaign.messages.real().skip_queued(detail)


def campaign_next_due(campaign: Campaign):
    """When a still-sending campaign next has a Message to send: now when one is ready (an
    always-on campaign's trigger queued as its run was closing, when the run still looked
    alive to the API), else its earliest scheduled retry; None when nothing is queued."""
    if not Campaign.objects.filter(pk=campaign.pk).sending().exists():
        return None
    queued = Message.objects.real().filter(campaign_id=campaign.pk, state=Message.State.QUEUED)
    if queued.filter(next_attempt_at__isnull=True).exists():
        return timezone.now()
    return engine.next_retry_at(campaign.pk)


def campaign_pause(campaign: Campaign, *, reason: str = "Paused by an operator.") -> bool:
    """Stop a sending campaign after the requests in flight; its queue is kept."""
    return bool(Campaign.objects.filter(pk=campaign.pk).pause(reason))


def campaign_cancel(campaign: Campaign) -> int:
    """Stop for good: the campaign is cancelled and what is still queued is skipped."""
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).cancel()
        return engine.skip_cancelled(campaign.pk)


GIVEN_UP_DETAIL = "Its retries were given up by an operator: it was not sent."


def campaign_give_up_retries(campaign: Campaign) -> int:
    """Fail for good what waits for a retry, so a campaign blocked by one Kaleyra error can
    complete now; returns how many messages were given up."""
    with transaction.atomic():
        given_up = (
            Message.objects.real().filter(campaign_id=campaign.pk).give_up_retries(GIVEN_UP_DETAIL)
        )
        engine.finish(campaign.pk)
    return given_up


def campaign_send_test(campaign: Campaign, *, to: str, skus: str = "") -> SendResult:
    """Send the campaign to one number as a test, through the same pipeline as every send:
    recorded, never counted as the real send. Opt-outs and the US rule apply (the frequency cap
    does not: a test is not marketing to a customer); a refusal says why in plain words. A
    personalised campaign's test gets `skus` (SKU1|SKU2|…) as its own products."""
    number, reason = normalise_phone(to)
    if number is None:
        raise CampaignNotSendable([validation.Problem("to", reason)])
    campaign = campaign_for_sending(campaign.pk)
    errors = validation.errors_only(campaign_check(campaign))
    if errors:
        raise CampaignNotSendable(errors)
    refusal = refusal_for_test_send(number)
    if refusal:
        raise CampaignNotSendable([validation.Problem("to", refusal)])
    try:
        config = sending_config(campaign)
    except CampaignNotRunnable as exc:
        raise CampaignNotSendable([validation.Problem("settings", str(exc))]) from None
    content = campaign_content(campaign)
    message = Message.objects.create(
        campaign=campaign,
        to=number,
        is_test=True,
        state=Message.State.QUEUED,
        overrides=test_products(campaign, content, number, skus),
    )
    return engine.send_test(message, content, config)


def test_products(campaign: Campaign, content, number: str, skus: str) -> dict:
    """A test send's own products, resolved as a recipient's are ({} for a campaign whose
    products are all its own); CampaignNotSendable when they cannot make a message."""
    if not content.is_personalised and not skus:
        return {}
    report = recipients.RowProblems()
    checked = recipients.check_recipient(
        campaign.template,
        content,
        recipients.RecipientInput(number, {"skus": skus} if skus else {}, line=1),
        report,
        recipients.CatalogLookup(),
    )
    if checked is None:
        raise CampaignNotSendable([validation.Problem("skus", report.invalid[0][2])])
    if checked.skip:
        raise CampaignNotSendable(
            [
                validation.Problem(
                    "skus",
                    f"Not sent: {checked.skip}. Give the test recipient's products as "
                    "SKU1|SKU2|… (their section is filled per recipient).",
                )
            ]
        )
    return checked.overrides


@dataclass
class DryRun:
    """What a send would do, with nothing written or sent: the report and every request body."""

    report: recipients.QueueReport = field(default_factory=recipients.QueueReport)
    bodies: list[str] = field(default_factory=list)


def campaign_dry_run(
    campaign: Campaign, recipient_inputs: Iterable[recipients.RecipientInput]
) -> DryRun:
    """The request bodies the pipeline would send to each eligible recipient (pretty-printed,
    each with the `<message id>` placeholder its ref would carry)."""
    content = campaign_content(campaign)
    result = DryRun()
    for checked in recipients.valid_recipients(campaign, content, recipient_inputs, result.report):
        reason = checked.skip or recipients.skip_reason(campaign, checked.number)
        if reason:
            result.report.add_skipped(checked.number, reason)
        else:
            sample = Claimed("<message id>", checked.number, checked.overrides, 0)
            result.bodies.append(pretty(request_body(content, sample)))
    return result
