"""Queueing: what a send to these recipients would do, then one Message each: all or nothing,
or (when the user chooses it) the valid rows only, the invalid ones counted and listed.

Lists may hold a million rows, so nothing here keeps the whole list: rows are checked in one
pass (valid ones spooled to a temporary file) and queued in chunks, each with a few queries.
"""

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from campaigns import conf, limits
from campaigns.audiences.consent import Provenance, consent_from_list
from campaigns.localtime import local_send_times, sending_hours, zones_of
from campaigns.models import Campaign, ConsentEvent, Message, MessageTemplate
from campaigns.models.rawsql import adapt_datetime
from campaigns.payload import MpmContent
from campaigns.recipients.eligibility import (
    MAX_REPORTED,
    Checked,
    RowProblems,
    check_recipient,
    skip_reasons,
)
from campaigns.recipients.inputs import RecipientInput
from campaigns.recipients.products import CatalogLookup, is_product_key
from campaigns.recipients.sql import insert_messages
from campaigns.selectors import campaign_content

CHUNK = 2000
FIRST_SHOWN = 5  # recipients the confirmation shows with their own values


def chunks(items: Iterable, size: int = CHUNK) -> Iterator[list]:
    """`items` in lists of `size`: a list of any length is worked through in bounded memory."""
    items = iter(items)
    while chunk := list(islice(items, size)):
        yield chunk


@dataclass
class QueueReport(RowProblems):
    """What checking and queueing recipients found; nothing is queued when any row is invalid,
    unless `valid_only` was asked for (then the invalid rows are counted and left out)."""

    valid_only: bool = False
    queued: int = 0
    already_accepted: int = 0
    unknown_kept: int = 0
    skipped_count_blocked: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (number, reason)

    @property
    def refused(self) -> bool:
        """Nothing was queued because some rows are invalid (and valid_only was not asked)."""
        return bool(self.invalid_count) and not self.valid_only

    @property
    def skipped_count(self) -> int:
        """Recipients this send leaves out: blocked ones, already accepted, outcome unknown."""
        return self.skipped_count_blocked + self.already_accepted + self.unknown_kept

    def add_skipped(self, number: str, reason: str):
        self.skipped_count_blocked += 1
        if len(self.skipped) < MAX_REPORTED:
            self.skipped.append((number, reason))

    def notes(self) -> list[str]:
        """What the user should know about a send beyond the queued count, in plain words."""
        notes = []
        if self.invalid_count and self.valid_only:
            notes.append(f"{self.invalid_count} invalid line(s) were left out.")
        if self.already_accepted:
            notes.append(
                f"{self.already_accepted} number(s) had already received this campaign and "
                "were not sent it again."
            )
        if self.unknown_kept:
            notes.append(
                f"{self.unknown_kept} number(s) have an unknown earlier outcome and were not "
                "resent: check Kaleyra's reports."
            )
        for reason, count in Counter(reason for _, reason in self.skipped).items():
            notes.append(f"{count} number(s) skipped: {reason}")
        if self.duplicate_count:
            notes.append(f"{self.duplicate_count} duplicate number(s) were removed.")
        return notes


def valid_recipients(
    campaign: Campaign,
    content: MpmContent,
    recipients: Iterable[RecipientInput],
    report: RowProblems,
) -> Iterator[Checked]:
    """The valid, distinct recipients, checked, for a plan or a dry run; problems go to
    `report`. Keeps the numbers seen, so it is meant for lists a person will read."""
    seen = set()
    catalog = CatalogLookup()
    for recipient in recipients:
        checked = check_recipient(campaign.template, content, recipient, report, catalog)
        if checked is None:
            continue
        if checked.number in seen:
            report.add_duplicate(checked.number)
            continue
        seen.add(checked.number)
        yield checked


def invalid_rows(
    campaign: Campaign, recipients: Iterable[RecipientInput]
) -> Iterator[tuple[int, str, str]]:
    """Every invalid row as (line, value as given, why), read lazily: the whole list of what a
    check reports only the first MAX_REPORTED of, for a download."""
    content = campaign_content(campaign)
    catalog = CatalogLookup()
    for recipient in recipients:
        found = RowProblems()
        if check_recipient(campaign.template, content, recipient, found, catalog) is None:
            yield found.invalid[0]


@dataclass
class SendPlan(RowProblems):
    """What sending to these recipients would do, shown before anything is queued or sent.

    Mirrors `campaign_queue_recipients`, which decides again when the user confirms. Lists are
    capped at MAX_REPORTED entries; the counts cover every recipient.
    """

    rows_read: int = 0
    valid_count: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (number, reason)
    skipped_count: int = 0
    already_sent: int = 0
    unknown: int = 0
    to_send: int = 0
    others_queued: int = 0
    columns_note: str = ""  # a file's columns left out ("Column “email” ignored: …")
    first_recipients: list[Checked] = field(default_factory=list)

    @classmethod
    def from_stored(cls, data: dict, **counts) -> "SendPlan":
        """A plan kept as JSON (a background check's), its first recipients `Checked` again;
        plans stored before those existed hold (number, values) pairs."""
        first = [
            Checked(*item) if isinstance(item, list) else Checked(**item)
            for item in data.get("first_recipients", [])
        ]
        return cls(**{**data, "first_recipients": first}, **counts)

    @property
    def skipped_by_reason(self) -> list[tuple[str, list[str]]]:
        """(reason, numbers) for the listed skipped recipients, one entry per reason."""
        grouped: dict[str, list[str]] = {}
        for number, reason in self.skipped:
            grouped.setdefault(reason, []).append(number)
        return list(grouped.items())

    @property
    def first_columns(self) -> list[str]:
        """The own-value columns the first recipients fill, in the CSV's documented order."""
        used = {
            name
            for checked in self.first_recipients
            for name in checked.overrides
            if not is_product_key(name)
        }
        return sorted(used, key=column_order)

    @property
    def first_rows(self) -> list[tuple[str, list[str]]]:
        """(number, its value in each of `first_columns`, "" where it keeps the campaign's)."""
        columns = self.first_columns
        return [
            (checked.number, [checked.overrides.get(name, "") for name in columns])
            for checked in self.first_recipients
        ]

    @property
    def sends_anything(self) -> bool:
        return bool(self.to_send or self.others_queued)

    @property
    def total_to_send(self) -> int:
        """These recipients plus the ones queued earlier for this campaign."""
        return self.to_send + self.others_queued


def column_order(name: str) -> tuple[int, int]:
    """header, body_1 … body_n, then ref, ref1, ref2: the order the README documents."""
    if name == "header":
        return (0, 0)
    if name.startswith("body_"):
        return (1, int(name.removeprefix("body_")))
    return (2, limits.REF_FIELDS.index(name))


def recipients_plan(
    campaign: Campaign,
    recipients: Iterable[RecipientInput],
    *,
    progress: Callable[[SendPlan], object] | None = None,
    progress_every: int = 20_000,
) -> SendPlan:
    """Check every recipient and say what a send would do, without queueing anything.

    Expects the campaign from `selectors.campaign_for_sending`; a few queries per CHUNK rows.
    `progress` is called with the plan so far every `progress_every` rows read (a background
    check shows it while a long list is read).
    """
    plan = SendPlan()

    def counted(rows: Iterable[RecipientInput]) -> Iterator[RecipientInput]:
        for row in rows:
            # Asked for the next row, the consumer has checked every row read so far.
            if progress is not None and plan.rows_read and plan.rows_read % progress_every == 0:
                progress(plan)
            plan.rows_read += 1
            yield row

    content = campaign_content(campaign)
    real = Message.objects.real().filter(campaign=campaign)
    queued_among_these = 0

    def classify(numbers: list[str]):
        nonlocal queued_among_these
        states = dict(real.filter(to__any_of=numbers).values_list("to", "state"))
        reasons = skip_reasons(campaign, numbers)
        for number in numbers:
            state = states.get(number)
            if state in (*Message.ACCEPTED_OR_LATER, Message.State.SENDING):
                plan.already_sent += 1
                continue
            if state == Message.State.UNKNOWN:
                plan.unknown += 1
                continue
            queued_among_these += state == Message.State.QUEUED
            if reason := reasons.get(number):
                plan.skipped_count += 1
                if len(plan.skipped) < MAX_REPORTED:
                    plan.skipped.append((number, reason))
            else:
                plan.to_send += 1

    def numbers() -> Iterator[str]:
        for checked in valid_recipients(campaign, content, counted(recipients), plan):
            if len(plan.first_recipients) < FIRST_SHOWN:
                plan.first_recipients.append(checked)
            if checked.skip:  # no product to show: skipped whatever else holds
                plan.skipped_count += 1
                if len(plan.skipped) < MAX_REPORTED:
                    plan.skipped.append((checked.number, checked.skip))
                continue
            yield checked.number

    for chunk in chunks(numbers()):
        plan.valid_count += len(chunk)
        classify(chunk)
    plan.others_queued = real.filter(state=Message.State.QUEUED).count() - queued_among_these
    return plan


def campaign_queue_recipients(
    campaign: Campaign,
    recipients: Iterable[RecipientInput],
    *,
    resend_unknown: bool = False,
    valid_only: bool = False,
    trigger_key: str = "",
    from_contacts: bool = False,
    progress: Callable[[], None] | None = None,
    progress_every: int = 20_000,
) -> QueueReport:
    """Check every recipient, then create (or requeue) one Message each: all or nothing, or
    with `valid_only` each valid one (the invalid rows counted and listed in the report).
    An always-on campaign's Messages are one per recipient and `trigger_key` (an API call's
    key): a new trigger sends again, the same one never twice.

    Already accepted recipients are never queued again, so a rerun sends no duplicate. Messages
    whose outcome is unknown (they may have been sent) are requeued only with `resend_unknown`.
    `from_contacts`: the recipients are contacts (a list or segment), whose own consent decides;
    MPM_LISTS_CARRY_CONSENT counts only lists brought to the send (typed, a file, the API).
    `progress` is called every `progress_every` recipients checked and after each chunk queued
    (a background worker says it is alive).
    """
    report = QueueReport(valid_only=valid_only)
    content = campaign_content(campaign)
    catalog = CatalogLookup()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for n, recipient in enumerate(recipients, 1):
            if progress is not None and n % progress_every == 0:
                progress()
            checked = check_recipient(campaign.template, content, recipient, report, catalog)
            if checked is not None and not report.refused:
                overrides = json.dumps(checked.overrides) if checked.overrides else ""
                spool.write(f"{checked.number}\t{checked.skip}\t{overrides}\n")
        if report.refused:
            return report
        spool.seek(0)
        started = timezone.now()
        first_new_id = (Message.objects.aggregate(last=Max("id"))["last"] or 0) + 1
        rows = (line.rstrip("\n").split("\t", 2) for line in spool)
        for chunk in chunks(rows):
            _queue_chunk(
                campaign,
                chunk,
                report,
                resend_unknown,
                first_new_id,
                started,
                trigger_key,
                list_is_proof=conf.MPM_LISTS_CARRY_CONSENT and not from_contacts,
            )
            if progress is not None:
                progress()
    return report


def _queue_chunk(
    campaign, chunk, report, resend_unknown, first_new_id, started, trigger_key, *, list_is_proof
):
    """One chunk in one short transaction: new rows inserted, earlier ones requeued or kept.

    A number met in an earlier chunk of this same list has a row created (id from
    `first_new_id`) or requeued (updated since `started`) by this run: it is a duplicate.
    """
    wanted: dict[str, tuple[str, str]] = {}  # number: (own skip reason, overrides)
    for number, own_skip, overrides in chunk:
        if number in wanted:
            report.add_duplicate(number)
        else:
            wanted[number] = (own_skip, overrides)
    now = timezone.now()
    stamp = adapt_datetime(now)
    with transaction.atomic():
        existing = {
            to: (pk, state, updated_at)
            for pk, to, state, updated_at in Message.objects.real()
            .select_for_update()
            .filter(campaign=campaign, to__any_of=list(wanted), trigger_key=trigger_key)
            # Unordered, so that SQLite looks the numbers up in the (campaign, to) index instead
            # of reading the whole campaign in id order (1,000,000 recipients: quadratic).
            .order_by()
            .values_list("id", "to", "state", "updated_at")
        }
        new = []
        requeue: dict[tuple[str, str, str], list[int]] = {}
        marketing = campaign.template.category == MessageTemplate.Category.MARKETING
        if marketing and list_is_proof:
            proof = Provenance(ConsentEvent.Source.RECIPIENT_LIST, ref=f"campaign {campaign.pk}")
            consent_from_list(list(wanted), proof, when=now)
        reasons = skip_reasons(
            campaign, list(wanted), trigger_key=trigger_key, list_is_proof=list_is_proof
        )
        for number, (own_skip, overrides) in wanted.items():
            reason = own_skip or reasons.get(number, "")
            state = Message.State.SKIPPED if reason else Message.State.QUEUED
            if number not in existing:
                new.append(
                    (
                        campaign.pk,
                        number,
                        overrides or "{}",
                        state,
                        "",
                        "",
                        reason,
                        0,
                        False,
                        "",
                        stamp,
                        stamp,
                        trigger_key,
                    )
                )
            else:
                pk, current, updated_at = existing[number]
                if pk >= first_new_id or updated_at >= started:
                    report.add_duplicate(number)
                    continue
                if current in Message.ACCEPTED_OR_LATER:  # callbacks may have moved it on
                    report.already_accepted += 1
                    continue
                if current == Message.State.SENDING or (
                    current == Message.State.UNKNOWN and not resend_unknown
                ):
                    report.unknown_kept += current == Message.State.UNKNOWN
                    continue
                requeue.setdefault((state, reason, overrides), []).append(pk)
            if reason:
                report.add_skipped(number, reason)
            else:
                report.queued += 1
        with connection.cursor() as cursor:
            insert_messages(cursor, new)
        for (state, reason, overrides), pks in requeue.items():
            Message.objects.filter(pk__in=pks).update(
                state=state,
                detail=reason,
                overrides=json.loads(overrides) if overrides else {},
                next_attempt_at=None,
                updated_at=now,
            )
        _wait_for_their_time(campaign, list(wanted), trigger_key, now)


def _wait_for_their_time(campaign: Campaign, numbers: list[str], trigger_key: str, now):
    """Each queued Message waits (`next_attempt_at`, which the engine never claims before) for
    its recipient's own time: the campaign's local send time in their zone, then, with sending
    hours, the next time those hours are open there. One UPDATE per distinct time in the chunk;
    a time already come sends at once. (The engine checks the hours again as it claims.)"""
    hours = sending_hours(campaign)
    if not campaign.send_local_time and hours is None:
        return
    times = (
        local_send_times(campaign.send_local_time, numbers)
        if campaign.send_local_time
        else dict.fromkeys(numbers, now)
    )
    zones = zones_of(numbers) if hours else {}
    by_time: dict = {}
    for number, at in times.items():
        at = max(at, now)
        if hours:
            at = hours.opens_at(at, zones[number])
        if at > now:
            by_time.setdefault(at, []).append(number)
    for at, group in by_time.items():
        Message.objects.real().filter(
            campaign=campaign, to__any_of=group, trigger_key=trigger_key, state=Message.State.QUEUED
        ).update(next_attempt_at=at)
