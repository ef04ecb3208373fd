"""Queueing recipients: checked row by row, queued in chunks in flat memory, all or nothing,
duplicates reported once and reruns never resending."""

import sys
import tracemalloc

import pytest

from campaigns import recipients as recipient_lists
from campaigns.models import Message
from campaigns.recipients import (
    CHUNK,
    CsvRecipients,
    RecipientInput,
    campaign_queue_recipients,
    eligibility,
)
from tests.support.recipients import phone, write_csv

pytestmark = pytest.mark.django_db


def stored(campaign) -> dict[str, str]:
    return dict(Message.objects.filter(campaign=campaign).values_list("to", "state"))


# --- streaming ----------------------------------------------------------------------------------

ROWS = 200_000
# Streaming holds one chunk of CHUNK rows at a time: measured peaks of ~3 MB on SQLite and
# ~9.5 MB on PostgreSQL (a chunk's 24,000-parameter INSERT), the same at 5,000, 50,000 and
# 200,000 rows. Holding the list instead costs at least its numbers, ~14 MB as bare str objects
# (checked below; as Message objects ~200 MB).
PEAK_BOUND = 12_000_000


@pytest.mark.timeout(300)  # ~16 s on SQLite; PostgreSQL's ingest is slower under tracemalloc
def test_a_200k_row_csv_is_queued_in_flat_memory(campaign, tmp_path, monkeypatch):
    # libphonenumber costs ~30 µs a row, three times that under tracemalloc: here it is
    # replaced, to keep the test short, by the identity on well-formed numbers. Its memory does
    # not grow with the list (metadata is loaded once per region), and every other test here
    # checks numbers with it.
    monkeypatch.setattr(eligibility, "normalise_phone", lambda raw: (raw.strip(), ""))
    path = write_csv(tmp_path / "big.csv", "phone", (phone(n) for n in range(ROWS)))
    numbers_held = sum(sys.getsizeof(phone(n)) + 8 for n in range(ROWS))
    assert numbers_held > PEAK_BOUND

    tracemalloc.start()
    try:
        report = campaign_queue_recipients(campaign, CsvRecipients(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (report.queued, report.invalid_count, report.duplicate_count) == (ROWS, 0, 0)
    assert Message.objects.filter(campaign=campaign, state="queued").count() == ROWS
    assert peak < PEAK_BOUND, f"peak {peak / 1e6:.1f} MB"


def test_valid_only_queues_the_valid_rows_and_counts_the_invalid_ones(campaign, tmp_path):
    rows = [phone(1), "12345", phone(2), "", "+91 12", phone(1)]
    path = write_csv(tmp_path / "dirty.csv", "phone,email", [f"{r},x@example.com" for r in rows])

    report = campaign_queue_recipients(campaign, CsvRecipients(path), valid_only=True)

    assert not report.refused
    assert (report.queued, report.invalid_count, report.duplicate_count) == (2, 3, 1)
    assert [line for line, *_ in report.invalid] == [3, 5, 6]  # 5: an email, no number
    assert stored(campaign) == {phone(1): "queued", phone(2): "queued"}
    assert report.notes()[0] == "3 invalid line(s) were left out."
    refused = campaign_queue_recipients(campaign, CsvRecipients(path))
    assert refused.refused and refused.queued == 0


# --- duplicates and reruns ----------------------------------------------------------------------


def test_a_duplicate_in_a_later_chunk_is_reported_once_and_queued_once(campaign, tmp_path):
    assert CHUNK == 2000
    rows = [phone(n) for n in range(3500)]
    again = rows[8]  # CSV line 10 (the header is line 1)
    rows[2998] = again  # CSV line 3000: another chunk
    rows[18] = "0091 " + again.removeprefix("+91")  # line 20, written another way: same number
    path = write_csv(tmp_path / "r.csv", "phone", rows)

    report = campaign_queue_recipients(campaign, CsvRecipients(path))

    assert (report.duplicate_count, report.duplicates) == (2, [again, again])
    assert report.queued == 3500 - 2
    assert Message.objects.filter(campaign=campaign).count() == 3500 - 2
    assert Message.objects.filter(campaign=campaign, to=again).count() == 1


def test_the_first_row_of_a_duplicate_gives_its_values(campaign):
    report = campaign_queue_recipients(
        campaign,
        [RecipientInput(phone(1), {"body_1": "first"}), RecipientInput(phone(1), {"body_1": "x"})],
    )
    assert (report.queued, report.duplicate_count) == (1, 1)
    assert Message.objects.get().overrides == {"body_1": "first"}


def test_a_rerun_requeues_failed_ones_and_keeps_accepted_and_unknown_ones(campaign):
    numbers = [phone(n) for n in range(5)]
    campaign_queue_recipients(campaign, [RecipientInput(n) for n in numbers])
    outcome = ["accepted", "unknown", "failed", "queued", "skipped"]
    for number, state in zip(numbers, outcome, strict=True):
        Message.objects.filter(to=number).update(state=state, attempts=1)
    failed = Message.objects.get(to=numbers[2])

    report = campaign_queue_recipients(campaign, [RecipientInput(n) for n in numbers])

    assert (report.queued, report.already_accepted, report.unknown_kept) == (3, 1, 1)
    assert report.duplicate_count == 0
    assert stored(campaign) == dict(
        zip(numbers, ["accepted", "unknown", "queued", "queued", "queued"], strict=True)
    )
    assert Message.objects.get(pk=failed.pk).attempts == 1  # its history is kept

    report = campaign_queue_recipients(
        campaign, [RecipientInput(n) for n in numbers], resend_unknown=True
    )
    assert (report.queued, report.already_accepted, report.unknown_kept) == (4, 1, 0)
    assert stored(campaign)[numbers[1]] == "queued"


def test_a_rerun_never_touches_a_message_being_sent(campaign):
    campaign_queue_recipients(campaign, [RecipientInput(phone(1))])
    Message.objects.update(state="sending", claimed_by="host:1:run")

    report = campaign_queue_recipients(campaign, [RecipientInput(phone(1))])

    assert (report.queued, report.unknown_kept, report.already_accepted) == (0, 0, 0)
    assert Message.objects.get().state == "sending"


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: a row kept (accepted/unknown) in an earlier chunk is not "
    "remembered, so its repeat in a later chunk counts twice instead of as a duplicate",
)
def test_a_rerun_reports_a_duplicate_across_chunks_once(campaign):
    numbers = [phone(n) for n in range(CHUNK + 500)]
    numbers[CHUNK + 100] = numbers[10]
    inputs = [RecipientInput(n, line=i) for i, n in enumerate(numbers, start=2)]
    campaign_queue_recipients(campaign, inputs)
    Message.objects.update(state="accepted")

    report = recipient_lists.campaign_queue_recipients(campaign, inputs)

    assert (report.already_accepted, report.duplicate_count) == (len(numbers) - 1, 1)
