"""Recipients: read them (typed numbers or a CSV), check every one, and queue one Message each.

Lists may hold a million rows, so nothing here keeps the whole list: rows are checked in one
pass (valid ones spooled to a temporary file) and queued in chunks, each with a few queries.
"""

import csv
import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from campaigns import limits, validation
from campaigns.models import Campaign, Message, MessageTemplate, OptOut
from campaigns.models.rawsql import adapt_datetime
from campaigns.payload import MpmContent, recipient_values
from campaigns.recipients.sql import insert_messages
from campaigns.selectors import campaign_content

CHUNK = 2000
MAX_REPORTED = 1000  # rows listed per kind of problem; the counts cover them all
BODY_COLUMN = re.compile(r"^body_[1-9]\d*$")
US_SKIP_REASON = "Meta has not delivered marketing templates to US numbers since 2025-04-01."


class RecipientFileError(Exception):
    """The recipients file cannot be used at all (unreadable, wrong columns)."""


@dataclass(frozen=True)
class RecipientInput:
    """One recipient as given: a number, its own values (CSV columns) and where it came from."""

    phone: str
    overrides: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass
class QueueReport:
    """What checking and queueing recipients found; nothing is queued when any row is invalid."""

    queued: int = 0
    invalid_count: int = 0
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, reason)
    duplicate_count: int = 0
    duplicates: list[str] = field(default_factory=list)
    already_accepted: int = 0
    unknown_kept: int = 0
    skipped_count_blocked: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (number, reason)
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped_count(self) -> int:
        """Recipients this send leaves out: blocked ones, already accepted, outcome unknown."""
        return self.skipped_count_blocked + self.already_accepted + self.unknown_kept

    def add_invalid(self, line: int, value: str, reason: str):
        self.invalid_count += 1
        if len(self.invalid) < MAX_REPORTED:
            self.invalid.append((line, value, reason))

    def add_duplicate(self, number: str):
        self.duplicate_count += 1
        if len(self.duplicates) < MAX_REPORTED:
            self.duplicates.append(number)

    def add_skipped(self, number: str, reason: str):
        self.skipped_count_blocked += 1
        if len(self.skipped) < MAX_REPORTED:
            self.skipped.append((number, reason))

    def notes(self) -> list[str]:
        """What the user should know about a send beyond the queued count, in plain words."""
        notes = []
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


# --- reading ------------------------------------------------------------------------------------


def recipients_from_numbers(text: str) -> list[RecipientInput]:
    """Numbers typed or pasted, separated by commas, semicolons or new lines."""
    return [
        RecipientInput(phone, line=n)
        for n, phone in enumerate(validation.split_numbers(text), start=1)
    ]


class CsvRecipients:
    """Recipients from a CSV with a `phone` column and optional `header`, `body_1`…`body_n`,
    `ref`, `ref1`, `ref2` columns that override the campaign's values; read lazily."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:
                columns = [c.strip() for c in next(csv.reader(handle), [])]
        except OSError as exc:
            raise RecipientFileError(f"Cannot read {self.path}: {exc.strerror}.") from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise RecipientFileError(f"{self.path} is not a UTF-8 CSV file: {exc}.") from exc
        if "phone" not in columns:
            raise RecipientFileError(
                f"{self.path} needs a 'phone' column; its columns are: "
                f"{', '.join(columns) or 'none'}."
            )
        known = ("phone", "header", *limits.REF_FIELDS)
        unknown = [c for c in columns if c not in known and not BODY_COLUMN.match(c)]
        if unknown:
            raise RecipientFileError(
                f"{self.path} has columns this app does not know: {', '.join(unknown)}. "
                "Use phone, header, body_1 … body_n, ref, ref1, ref2."
            )
        self.columns = columns

    def __iter__(self) -> Iterator[RecipientInput]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            phone_at = self.columns.index("phone")
            try:
                for row in reader:
                    if not any(cell.strip() for cell in row):
                        continue  # blank lines are not recipients
                    overrides = {
                        name: value.strip()
                        for name, value in zip(self.columns, row, strict=False)
                        if name != "phone" and value.strip()
                    }
                    phone = row[phone_at] if phone_at < len(row) else ""
                    yield RecipientInput(phone, overrides, line=reader.line_num)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise RecipientFileError(f"{self.path}, line {reader.line_num}: {exc}.") from exc


# --- checking -----------------------------------------------------------------------------------


def check_recipient(
    template: MessageTemplate, content: MpmContent, recipient: RecipientInput, report: QueueReport
) -> str | None:
    """The E.164 number of a valid recipient; otherwise None, with the reason in the report."""
    number, reason = validation.normalise_phone(recipient.phone)
    if number is None:
        report.add_invalid(recipient.line, recipient.phone, reason)
        return None
    overrides = recipient.overrides
    problems = []
    if overrides:  # without them the campaign's own (already checked) values are sent
        header, body = recipient_values(content, overrides)
        problems = validation.override_problems(template, overrides)
        problems += validation.value_problems(template, header, body)
    errors = validation.errors_only(problems)
    if errors:
        report.add_invalid(recipient.line, recipient.phone, "; ".join(str(p) for p in errors))
        return None
    if len(report.warnings) < MAX_REPORTED:
        report.warnings += [f"line {recipient.line}: {p.message}" for p in problems]
    return number


OPT_OUT_SKIP_REASON = "skipped (opted out)"


def frequency_cap_reason(hours: float) -> str:
    return (
        f"skipped (frequency cap): another campaign's marketing message went to this number "
        f"in the last {hours:g} hours"
    )


def skip_reason(campaign: Campaign, number: str) -> str:
    """Why this recipient is not sent to at all, or "" when it may be: a US number (marketing),
    an opted-out number, or one within the frequency cap. For many numbers use `skip_reasons`."""
    return skip_reasons(campaign, [number]).get(number, "")


def skip_reasons(campaign: Campaign, numbers: list[str]) -> dict[str, str]:
    """`skip_reason` for many numbers at once (a queueing chunk): two indexed queries."""
    reasons = {}
    marketing = campaign.template.category == MessageTemplate.Category.MARKETING
    if settings.MPM_SKIP_US_RECIPIENTS and marketing:
        for number in numbers:
            if number.startswith("+1") and validation.is_marketing_blocked(number):
                reasons[number] = US_SKIP_REASON
    rest = [n for n in numbers if n not in reasons]
    if rest:
        for phone in OptOut.objects.filter(phone__in=rest).values_list("phone", flat=True):
            reasons[phone] = OPT_OUT_SKIP_REASON
    hours = settings.MPM_FREQUENCY_CAP_HOURS
    rest = [n for n in rest if n not in reasons]
    if hours and marketing and rest:
        # Meta's guidance and the issue: at most one marketing message per recipient per
        # `hours`, across campaigns. `claimed_at` is when a message left (or is leaving).
        recent = (
            Message.objects.filter(
                to__in=rest,
                is_test=False,
                state__in=Message.CAP_STATES,
                claimed_at__gte=timezone.now() - timedelta(hours=hours),
                campaign__template__category=MessageTemplate.Category.MARKETING,
            )
            .exclude(campaign=campaign)
            .values_list("to", flat=True)
            .distinct()
        )
        reason = frequency_cap_reason(hours)
        reasons.update(dict.fromkeys(recent, reason))
    return reasons


def valid_recipients(
    campaign: Campaign,
    content: MpmContent,
    recipients: Iterable[RecipientInput],
    report: QueueReport,
) -> Iterator[tuple[str, dict[str, str]]]:
    """The valid, distinct recipients as (number, overrides), for a dry run; problems go to
    `report`. Keeps the numbers seen, so it is meant for lists a person will read."""
    seen = set()
    for recipient in recipients:
        number = check_recipient(campaign.template, content, recipient, report)
        if number is None:
            continue
        if number in seen:
            report.add_duplicate(number)
            continue
        seen.add(number)
        yield number, recipient.overrides


@dataclass
class SendPlan:
    """What sending to these recipients would do, shown before anything is queued or sent.

    Mirrors `campaign_queue_recipients`, which decides again when the user confirms. Lists are
    capped at MAX_REPORTED entries; the counts cover every recipient.
    """

    report: QueueReport = field(default_factory=QueueReport)  # invalid rows and duplicates
    valid_count: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (number, reason)
    skipped_count: int = 0
    already_sent: int = 0
    unknown: int = 0
    to_send: int = 0
    others_queued: int = 0

    @property
    def invalid(self) -> list[tuple[int, str, str]]:
        return self.report.invalid

    @property
    def invalid_count(self) -> int:
        return self.report.invalid_count

    @property
    def duplicates(self) -> list[str]:
        return self.report.duplicates

    @property
    def duplicate_count(self) -> int:
        return self.report.duplicate_count

    @property
    def warnings(self) -> list[str]:
        return self.report.warnings

    @property
    def skipped_by_reason(self) -> list[tuple[str, list[str]]]:
        """(reason, numbers) for the listed skipped recipients, one entry per reason."""
        grouped: dict[str, list[str]] = {}
        for number, reason in self.skipped:
            grouped.setdefault(reason, []).append(number)
        return list(grouped.items())

    @property
    def sends_anything(self) -> bool:
        return bool(self.to_send or self.others_queued)

    @property
    def total_to_send(self) -> int:
        """These recipients plus the ones queued earlier for this campaign."""
        return self.to_send + self.others_queued


def recipients_plan(campaign: Campaign, recipients: Iterable[RecipientInput]) -> SendPlan:
    """Check every recipient and say what a send would do, without queueing anything.

    Expects the campaign from `selectors.campaign_for_sending`; a few queries per CHUNK rows.
    """
    plan = SendPlan()
    content = campaign_content(campaign)
    real = Message.objects.filter(campaign=campaign, is_test=False)
    queued_among_these = 0

    def classify(numbers: list[str]):
        nonlocal queued_among_these
        states = dict(real.filter(to__in=numbers).values_list("to", "state"))
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

    chunk = []
    for number, _ in valid_recipients(campaign, content, recipients, plan.report):
        plan.valid_count += 1
        chunk.append(number)
        if len(chunk) >= CHUNK:
            classify(chunk)
            chunk = []
    if chunk:
        classify(chunk)
    plan.others_queued = real.filter(state=Message.State.QUEUED).count() - queued_among_these
    return plan


# --- queueing -----------------------------------------------------------------------------------


def campaign_queue_recipients(
    campaign: Campaign,
    recipients: Iterable[RecipientInput],
    *,
    resend_unknown: bool = False,
) -> QueueReport:
    """Check every recipient, then create (or requeue) one Message each: all or nothing.

    Already accepted recipients are never queued again, so a rerun sends no duplicate. Messages
    whose outcome is unknown (they may have been sent) are requeued only with `resend_unknown`.
    """
    report = QueueReport()
    content = campaign_content(campaign)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for recipient in recipients:
            number = check_recipient(campaign.template, content, recipient, report)
            if number is not None and not report.invalid_count:
                overrides = {k: v for k, v in recipient.overrides.items() if v}
                spool.write(f"{number}\t{json.dumps(overrides) if overrides else ''}\n")
        if report.invalid_count:
            return report
        spool.seek(0)
        started = timezone.now()
        first_new_id = (Message.objects.aggregate(last=Max("id"))["last"] or 0) + 1
        rows = (line.rstrip("\n").split("\t", 1) for line in spool)
        while chunk := list(islice(rows, CHUNK)):
            _queue_chunk(campaign, chunk, report, resend_unknown, first_new_id, started)
    return report


def _queue_chunk(campaign, chunk, report, resend_unknown, first_new_id, started):
    """One chunk in one short transaction: new rows inserted, earlier ones requeued or kept.

    A number met in an earlier chunk of this same list has a row created (id from
    `first_new_id`) or requeued (updated since `started`) by this run: it is a duplicate.
    """
    wanted: dict[str, str] = {}
    for number, overrides in chunk:
        if number in wanted:
            report.add_duplicate(number)
        else:
            wanted[number] = overrides
    now = timezone.now()
    stamp = adapt_datetime(now)
    with transaction.atomic():
        existing = {
            to: (pk, state, updated_at)
            for pk, to, state, updated_at in Message.objects.select_for_update()
            .filter(campaign=campaign, is_test=False, to__in=list(wanted))
            # Unordered, so that SQLite looks the numbers up in the (campaign, to) index instead
            # of reading the whole campaign in id order (1,000,000 recipients: quadratic).
            .order_by()
            .values_list("id", "to", "state", "updated_at")
        }
        new = []
        requeue: dict[tuple[str, str, str], list[int]] = {}
        reasons = skip_reasons(campaign, list(wanted))
        for number, overrides in wanted.items():
            reason = reasons.get(number, "")
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
