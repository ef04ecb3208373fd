"""The per-campaign counters (`models.tallies`, kept by the triggers of `models.tally_sql`) against
a recount of the records: after any mix of what the app does (queueing, real sends against the
stand-in, callbacks in any order and replayed, cancel, give-up, orders, deletes, hand-made ORM
changes), under concurrent writers and compactions (PostgreSQL), after a killed `send_campaign`,
after `rebuild_campaign_stats`, after a campaign's deletion, and with test sends beside."""

import contextlib
import io
import itertools
import json
import random
import signal
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client, TestCase
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from campaigns.callbacks import apply_pending_callbacks
from campaigns.callbacks.sql import insert_status_events
from campaigns.models import (
    Campaign,
    CampaignTally,
    CampaignTallyDelta,
    Message,
    Order,
    StatusEvent,
    TallyKind,
)
from campaigns.models.rawsql import adapt_datetime
from campaigns.models.tally_sql import TALLY
from campaigns.recipients import RecipientInput, campaign_queue_recipients
from campaigns.selectors.tallies import campaign_tallies, campaign_version
from campaigns.services import (
    CampaignNotRunnable,
    CampaignNotSendable,
    campaign_cancel,
    campaign_give_up_retries,
    campaign_queueable,
    campaign_send,
    campaign_send_test,
    run_options,
)
from campaigns.services.tallies import tallies_compact, tallies_rebuild
from tests.sending import test_engine
from tests.sending.test_engine import (
    HEARTBEAT_LEASE,
    Command,
    command_env,
    number_ending,
    numbers,
    queue,
    transactional,
    wait_until,
)
from tests.support.callbacks import meta_error, order_message, text_reply, v2_status
from tests.support.factories import make_campaign, make_message, make_product, make_status_event
from tests.support.tallies import drift, maintained

# The engine tests' fixtures: the async engine's settings, and the stand-in for Kaleyra.
engine_settings = test_engine.engine_settings
start_standin = test_engine.start_standin

SECRET = {"X-Callback-Secret": "s3cret"}
POSTGRESQL_ONLY = (
    "concurrent writers and compactions: PostgreSQL only (its triggers append deltas that "
    "tallies_compact folds; SQLite lets one writer in at a time) — run with DATABASE_URL=postgres://…"
)


def everything(campaign_id: int) -> tuple[dict, int]:
    """The maintained counters and the version."""
    return maintained(campaign_id), campaign_version(campaign_id)


def assert_counters_right(campaign_id: int):
    """The counters equal a recount; a rebuild then changes nothing but the version (+1)."""
    assert drift(campaign_id) == {}
    counters, version = everything(campaign_id)
    assert tallies_rebuild([campaign_id]) == 1
    assert everything(campaign_id) == (counters, version + 1)


def post_callback(body: dict):
    response = Client().post(
        "/callbacks/kaleyra/", json.dumps(body), content_type="application/json", headers=SECRET
    )
    assert response.status_code == 200, response.content


def apply_callbacks():
    """As the applier runs them, its on-commit hooks included (a test's transaction never
    commits)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        apply_pending_callbacks()


# --- 1. a random mix of everything the app does ---------------------------------------------------

# The stand-in answers by the recipient's last digits (benchmarks/standin.py).
ANSWER_SUFFIX = {
    "accepted": "7000",
    "wa500": "0500",  # retried, then failed
    "wa401": "0401",  # failed
    "wa400": "0400",  # failed
    "low_balance": "0110",  # E110: back in the queue, the campaign paused
    "no_answer": "0408",  # a read timeout: unknown
}
RECIPIENTS = [*ANSWER_SUFFIX, "us", "capped"]
META_CODES = ["", "131026", "131049", "131050", "131048", "130429", "132015"]
BASE_TS = 1_750_857_384  # 2025-06-25 13:16:24 UTC
STATES = [s for s, _ in Message.State.choices]
_numbers = itertools.count(1)


def fresh_number(kind: str) -> str:
    """A number no other example uses, answered by the stand-in as `kind` says."""
    n = next(_numbers)
    if kind == "us":
        return f"+1212{2_000_000 + n:07d}"  # skipped: marketing to the US
    suffix = ANSWER_SUFFIX.get(kind, "7000")
    return f"+919{n:05d}{suffix}"


recipient_kinds = st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=4)
pick = st.integers(min_value=0, max_value=50)  # a Message (or event, order) by position
status_event = st.fixed_dictionaries(
    {
        "message": pick,
        "status": st.sampled_from(["sent", "delivered", "read", "failed", "not_sent", "deleted"]),
        "code": st.sampled_from(META_CODES),
        "minute": st.integers(min_value=0, max_value=2),
        "by_ref": st.booleans(),  # matched by `mpm-<id>` rather than Kaleyra's id
        "timestamp": st.booleans(),
    }
)
queueing = st.tuples(st.just("queue"), recipient_kinds, st.lists(pick, max_size=2), st.booleans())
sending = st.tuples(st.just("send"), st.booleans(), st.booleans())
status_callbacks = st.tuples(
    st.just("callbacks"),
    st.lists(status_event, min_size=1, max_size=5),
    st.lists(st.integers(min_value=0, max_value=4), max_size=3),  # replays
    st.booleans(),  # applied after each post, or all at once
)
operations = st.one_of(
    queueing,
    sending,
    sending,
    status_callbacks,
    status_callbacks,
    st.tuples(
        st.just("order"),
        pick,
        st.sampled_from(["INR", "USD", ""]),
        st.lists(st.integers(min_value=0, max_value=99_999), min_size=1, max_size=3),
        st.booleans(),  # replayed
    ),
    st.tuples(st.just("reply"), pick, st.sampled_from(["STOP", "START"])),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("give_up")),
    st.tuples(st.just("delete"), pick),
    st.tuples(
        st.just("edit_message"),
        pick,
        st.fixed_dictionaries(
            {},
            optional={
                "state": st.sampled_from(STATES),
                "message_id": st.sampled_from(["", "KAL-EDITED"]),
                "meta_code": st.sampled_from(META_CODES),
                "last_code": st.sampled_from(["", "WA202", "WA401"]),
                "detail": st.sampled_from(["", "edited by hand"]),
                "attempts": st.integers(min_value=0, max_value=3),
                "claimed_at": st.sampled_from([None, 0, 5]),  # minutes ago
                "is_test": st.booleans(),
                "campaign": st.sampled_from(["same", "neighbour"]),
            },
        ),
        st.booleans(),  # .save() rather than .update()
    ),
    st.tuples(
        st.just("edit_event"),
        pick,
        st.sampled_from(["delivered", "read", "sent", "minute", "no_timestamp", "move", "delete"]),
    ),
    st.tuples(
        st.just("edit_order"), pick, st.sampled_from(["total", "currency", "unattribute", "delete"])
    ),
    st.tuples(st.just("compact")),
    st.tuples(st.just("test_send")),
)


class Mix:
    """One example's campaign, its neighbour (a campaign sharing the template, which also holds
    the numbers the frequency cap skips) and what the operations need."""

    def __init__(self):
        self.campaign = make_campaign()
        self.neighbour = make_campaign(template=self.campaign.template)
        self.product = make_product(retailer_id=f"SKU-MIX-{next(_numbers)}")
        self.tries = 0

    def messages(self, campaign=None) -> list[Message]:
        return list(Message.objects.filter(campaign=campaign or self.campaign).order_by("id"))

    def message(self, n: int) -> Message | None:
        found = self.messages()
        return found[n % len(found)] if found else None

    def run(self, op):
        getattr(self, op[0])(*op[1:])

    def queue(self, kinds, again, resend_unknown):
        try:
            campaign_queueable(self.campaign)
        except CampaignNotRunnable:
            return
        phones = []
        for kind in kinds:
            phone = fresh_number(kind)
            if kind == "capped":  # another campaign's message went there a minute ago
                make_message(self.neighbour, phone, claimed_at=timezone.now())
            phones.append(phone)
        phones += [m.to for n in again if (m := self.message(n)) and not m.is_test]
        campaign_queue_recipients(
            self.campaign,
            [RecipientInput(p, line=i) for i, p in enumerate(phones, start=2)],
            resend_unknown=resend_unknown,
        )

    def send(self, resume, wait_for_retries):
        options = run_options(concurrency=4, wait_for_retries=wait_for_retries)
        # Paused, cancelled, or its template paused by Meta: refused, nothing sent.
        with contextlib.suppress(CampaignNotRunnable, CampaignNotSendable):
            campaign_send(self.campaign, resume=resume, options=options)

    def callbacks(self, events, replays, one_by_one):
        bodies = []
        for event in events:
            message = self.message(event["message"])
            if message is None:
                return
            ids = {"ref": f"mpm-{message.pk}"}
            if message.message_id and not event["by_ref"]:
                ids = {"message_id": message.message_id}
            ts = str(BASE_TS + 60 * event["minute"]) if event["timestamp"] else ""
            fields = {}
            if event["status"] in ("failed", "not_sent") and event["code"]:
                fields["errors"] = meta_error(event["code"])
            bodies.append(
                v2_status(
                    event["status"].replace("_", "-"),
                    ts=ts,
                    recipient_id=message.to[1:],
                    meta_id=f"wamid.{message.pk}",
                    **ids,
                    **fields,
                )
            )
        bodies += [bodies[n % len(bodies)] for n in replays]
        for body in bodies:
            post_callback(body)
            if one_by_one:
                apply_callbacks()
        apply_callbacks()

    def order(self, n, currency, prices, replayed):
        message = self.message(n)
        if message is None:
            return
        items = [
            {
                "product_retailer_id": self.product.retailer_id,
                "quantity": 1 + cents % 3,
                "item_price": str(Decimal(cents) / 100),
                "currency": currency,
            }
            for cents in prices
        ]
        body = order_message(
            message.to, items, ident=f"wamid.ORDER{next(_numbers)}", ts=str(int(time.time()))
        )
        post_callback(body)
        if replayed:
            post_callback(body)
        apply_callbacks()

    def reply(self, n, word):
        message = self.message(n)
        if message is not None:
            post_callback(text_reply(message.to, word, ident=f"wamid.IN{next(_numbers)}"))
            apply_callbacks()

    def cancel(self):
        campaign_cancel(self.campaign)

    def give_up(self):
        campaign_give_up_retries(self.campaign)

    def delete(self, n):
        message = self.message(n)
        if message is not None:
            message.delete()

    def edit_message(self, n, changes, save):
        message = self.message(n)
        if message is None:
            return
        fields = dict(changes)
        if "claimed_at" in fields and fields["claimed_at"] is not None:
            fields["claimed_at"] = timezone.now() - timedelta(minutes=fields["claimed_at"])
        if "campaign" in fields:
            fields["campaign"] = (
                self.neighbour if fields["campaign"] == "neighbour" else self.campaign
            )
            if (
                fields["campaign"] != message.campaign
                and Message.objects.filter(
                    campaign=fields["campaign"], to=message.to, is_test=False
                ).exists()
            ):
                del fields["campaign"]  # one Message per recipient and campaign
        if not fields:
            return
        if save:
            for name, value in fields.items():
                setattr(message, name, value)
            message.save()
        else:
            Message.objects.filter(pk=message.pk).update(**fields)

    def edit_event(self, n, change):
        events = list(
            StatusEvent.objects.filter(message__campaign=self.campaign).order_by("id")
        ) or list(StatusEvent.objects.filter(message__campaign=self.neighbour).order_by("id"))
        if not events:
            return
        event = events[n % len(events)]
        if change == "delete":
            event.delete()
            return
        if change in ("delivered", "read", "sent"):
            event.status = change
        elif change == "minute":
            event.timestamp = (event.timestamp or event.received_at) + timedelta(minutes=1)
        elif change == "no_timestamp":
            event.timestamp = None
        elif change == "move" and (other := self.message(n + 1)) is not None:
            event.message = other
        event.save()

    def edit_order(self, n, change):
        orders = list(Order.objects.filter(campaign=self.campaign).order_by("id"))
        if not orders:
            return
        order = orders[n % len(orders)]
        if change == "delete":
            order.delete()
            return
        if change == "total":
            order.total += Decimal("12.34")
        elif change == "currency":
            order.currency = "EUR"
        else:
            order.campaign = None
        order.save()

    def compact(self):
        tallies_compact()

    def test_send(self):
        with contextlib.suppress(CampaignNotSendable):  # e.g. its template paused by Meta
            campaign_send_test(self.campaign, to=fresh_number("accepted"))


@pytest.fixture
def mix_settings(start_standin, engine_settings):
    engine_settings.KALEYRA_READ_TIMEOUT = 0.3
    engine_settings.KALEYRA_CALLBACK_HEADER = "X-Callback-Secret"
    engine_settings.KALEYRA_CALLBACK_TOKEN = ["s3cret"]
    engine_settings.MPM_RETRY_131049 = True
    start_standin()
    return engine_settings


@pytest.mark.django_db
@given(
    first=st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=6),
    ops=st.lists(operations, max_size=8),
)
def test_any_mix_of_what_the_app_does_leaves_the_counters_equal_to_a_recount(
    mix_settings, first, ops
):
    mix = Mix()
    for op in [("queue", first, [], False), ("send", False, True), *ops]:
        mix.run(op)
    for campaign in (mix.campaign, mix.neighbour):
        assert_counters_right(campaign.pk)


# --- 6. test sends ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_test_messages_are_never_counted(mix_settings):
    campaign = make_campaign()
    real = make_message(campaign, fresh_number("accepted"))
    make_status_event(real, "delivered")
    counted, version = everything(campaign.pk)
    assert counted[(TallyKind.STATE, "accepted+")] == (1, 0)

    campaign_send_test(campaign, to=fresh_number("accepted"))
    campaign_send_test(campaign, to=fresh_number("wa401"))
    test = Message.objects.get(campaign=campaign, is_test=True, state="accepted")
    assert Message.objects.get(campaign=campaign, is_test=True, state="failed").last_code == "WA401"
    for status, minute in (("sent", 0), ("delivered", 1), ("read", 2)):
        post_callback(
            v2_status(
                status,
                message_id=test.message_id,
                recipient_id=test.to[1:],
                ts=str(BASE_TS + 60 * minute),
            )
        )
    apply_callbacks()
    test.refresh_from_db()
    assert test.state == "read"
    assert StatusEvent.objects.filter(message=test).count() == 3

    assert everything(campaign.pk) == (counted, version)  # not even a change to count
    Message.objects.filter(pk=test.pk).update(state="failed", meta_code="131026", attempts=2)
    StatusEvent.objects.filter(message=test, status="sent").update(status="delivered")
    StatusEvent.objects.filter(message=test, status="read").delete()
    assert everything(campaign.pk) == (counted, version)
    Message.objects.filter(campaign=campaign, is_test=True).delete()
    assert everything(campaign.pk) == (counted, version)
    assert drift(campaign.pk) == {}


def events_counted(campaign_id: int) -> int:
    return sum(
        n
        for (kind, _), (n, _) in maintained(campaign_id).items()
        if kind in (TallyKind.DELIVERED, TallyKind.READ)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("save", [False, True], ids=["update", "save"])
def test_a_message_turned_into_a_test_send_takes_its_events_out_of_the_counters(save):
    campaign = make_campaign()
    message = make_message(campaign, "+919876543210")
    make_status_event(message, "delivered")
    make_status_event(message, "read")
    counted = maintained(campaign.pk)
    assert events_counted(campaign.pk) == 2

    def set_test(value: bool):
        if save:
            message.is_test = value
            message.save()
        else:
            Message.objects.filter(pk=message.pk).update(is_test=value)

    set_test(True)
    assert drift(campaign.pk) == {}
    assert maintained(campaign.pk) == {}

    set_test(False)
    assert drift(campaign.pk) == {}
    assert maintained(campaign.pk) == counted


@pytest.mark.django_db
@pytest.mark.parametrize("save", [False, True], ids=["update", "save"])
def test_a_message_moved_to_another_campaign_takes_its_events_along(save):
    source, target = make_campaign(), make_campaign()
    message = make_message(source, "+919876543210")
    make_status_event(message, "delivered")
    make_status_event(message, "read")
    version = campaign_version(source.pk)

    if save:
        message.campaign = target
        message.save()
    else:
        Message.objects.filter(pk=message.pk).update(campaign=target)

    assert drift(source.pk) == {} and drift(target.pk) == {}
    assert (events_counted(source.pk), events_counted(target.pk)) == (0, 2)
    assert maintained(source.pk) == {}
    assert campaign_version(source.pk) > version  # its dashboard reloads too


# --- 4. rebuild_campaign_stats ---------------------------------------------------------------------


def campaign_with_records(phone_base: int) -> Campaign:
    """A campaign whose counters have every kind: states, failures, skips, retries, sends,
    deliveries, reads and orders."""
    campaign = make_campaign()
    accepted = make_message(campaign, f"+9198{phone_base:08d}")
    make_status_event(accepted, "delivered")
    make_status_event(accepted, "read")
    make_message(campaign, f"+9198{phone_base + 1:08d}", state="failed", last_code="WA401")
    make_message(
        campaign, f"+9198{phone_base + 2:08d}", state="skipped", detail="opted out", message_id=""
    )
    make_message(campaign, f"+9198{phone_base + 3:08d}", state="queued", message_id="")
    Order.objects.create(
        campaign=campaign, message=accepted, from_phone=accepted.to, currency="INR", total="499.50"
    )
    return campaign


def corrupt(campaign_id: int):
    """What a hand-made SQL change or a bad restore could leave: counters off, gone, made up."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TALLY} SET n = n + 3 WHERE campaign_id = %s AND kind = 'state'", [campaign_id]
        )
        cursor.execute(
            f"DELETE FROM {TALLY} WHERE campaign_id = %s AND kind = 'delivered'", [campaign_id]
        )
        cursor.execute(
            f"UPDATE {TALLY} SET amount_cents = 1 WHERE campaign_id = %s AND kind = 'orders'",
            [campaign_id],
        )
        cursor.execute(
            f'INSERT INTO {TALLY} (campaign_id, kind, "key", n, amount_cents)'
            " VALUES (%s, 'skip', 'made up', 2, 0)",
            [campaign_id],
        )


@pytest.mark.django_db
def test_rebuild_campaign_stats_puts_corrupted_counters_right():
    first, second = campaign_with_records(100), campaign_with_records(200)
    tallies_compact()  # PostgreSQL: the counters are in their rows, not in deltas
    assert not CampaignTallyDelta.objects.exists()
    right = {c.pk: maintained(c.pk) for c in (first, second)}
    for campaign in (first, second):
        corrupt(campaign.pk)
        found = drift(campaign.pk)
        assert found[(TallyKind.STATE, "accepted+")] == ((4, 0), (1, 0))
        assert found[(TallyKind.SKIP, "made up")] == ((2, 0), None)
        assert found[(TallyKind.ORDERS, "INR")] == ((1, 1), (1, 49950))
        assert [key for key in found if key[0] == TallyKind.DELIVERED] != []
    versions = {c.pk: campaign_version(c.pk) for c in (first, second)}

    out = io.StringIO()
    call_command("rebuild_campaign_stats", str(first.pk), stdout=out, verbosity=0)

    assert "Counters rebuilt for 1 campaign(s)." in out.getvalue()
    assert drift(first.pk) == {}
    assert maintained(first.pk) == right[first.pk]
    assert campaign_version(first.pk) > versions[first.pk]
    assert drift(second.pk) != {}  # only the one named
    assert campaign_version(second.pk) == versions[second.pk]

    out = io.StringIO()
    call_command("rebuild_campaign_stats", stdout=out, verbosity=0)

    assert f"Counters rebuilt for {Campaign.objects.count()} campaign(s)." in out.getvalue()
    for campaign in (first, second):
        assert drift(campaign.pk) == {}
        assert maintained(campaign.pk) == right[campaign.pk]
    assert campaign_version(first.pk) > versions[first.pk] + 1
    assert campaign_version(second.pk) > versions[second.pk]
    assert not CampaignTallyDelta.objects.exists()  # what the rebuild left is folded in


@pytest.mark.django_db
def test_rebuild_campaign_stats_of_an_unknown_campaign_is_an_error_naming_it():
    campaign = campaign_with_records(300)
    missing = campaign.pk + 1000
    counters = everything(campaign.pk)

    with pytest.raises(CommandError, match=f"no campaign with ID {missing}"):
        call_command("rebuild_campaign_stats", str(missing), verbosity=0)

    assert everything(campaign.pk) == counters  # nothing rebuilt, not even a version step
    assert not CampaignTally.objects.filter(campaign_id=missing).exists()


# --- 5. deleting a campaign ------------------------------------------------------------------------


@pytest.mark.django_db
def test_deleting_a_campaign_removes_its_counters():
    doomed, kept = campaign_with_records(400), campaign_with_records(500)
    tallies_compact()
    # More changes after the compaction: on PostgreSQL the campaign has deltas as well.
    make_status_event(Message.objects.filter(campaign=doomed).first(), "read")
    Message.objects.filter(campaign=doomed, state="queued").update(state="skipped")
    assert CampaignTally.objects.filter(campaign_id=doomed.pk).exists()
    if connection.vendor == "postgresql":
        assert CampaignTallyDelta.objects.filter(campaign_id=doomed.pk).exists()
    kept_counters = everything(kept.pk)
    order = Order.objects.get(campaign=doomed)
    pk = doomed.pk

    doomed.delete()

    assert not CampaignTally.objects.filter(campaign_id=pk).exists()
    assert not CampaignTallyDelta.objects.filter(campaign_id=pk).exists()
    assert maintained(pk) == {} and campaign_version(pk) == 0
    order.refresh_from_db()
    assert order.campaign_id is None  # the order stays, attributed to no campaign
    assert everything(kept.pk) == kept_counters
    assert drift(kept.pk) == {}


# --- 2. concurrent writers and compactions (PostgreSQL) -------------------------------------------

WRITE_SECONDS = 2.0
WRITERS = 3


def event_row(message_id: int, key: str, status: str, at) -> tuple:
    """A status event in `callbacks.sql.STATUS_EVENT_COLUMNS` order, as the applier writes it."""
    return (
        message_id,
        key,
        f"KAL-C{message_id}",
        "",
        "",
        "",
        "",
        status,
        status.upper(),
        adapt_datetime(at),
        "",
        "",
        "",
        None,
        "",
        "{}",
        adapt_datetime(timezone.now()),
        True,
    )


class Writer(threading.Thread):
    """Changes its own share of a campaign's Messages (its own database connection) by every
    path the app has: the engine's raw UPDATEs, ORM updates, event inserts and deletes, and
    the applier's transaction (events, then the Messages they move)."""

    def __init__(self, n: int, ids: list[int], deadline: float, errors: list):
        super().__init__(name=f"writer-{n}")
        self.n, self.ids, self.deadline, self.errors = n, ids, deadline, errors
        self.writes = 0

    def run(self):
        rng = random.Random(self.n)
        try:
            while time.monotonic() < self.deadline:
                some = rng.sample(self.ids, rng.randint(1, 8))
                getattr(self, rng.choice(["raw", "orm", "events", "applier", "forget"]))(rng, some)
                self.writes += 1
        except Exception as exc:  # reported by the test, with its traceback
            self.errors.append(exc)
        finally:
            connection.close()

    def raw(self, rng, some):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE campaigns_message SET state = %s, meta_code = %s, attempts = %s,"
                " updated_at = %s WHERE id = ANY(%s)",
                [
                    rng.choice(STATES),
                    rng.choice(META_CODES),
                    rng.randint(0, 2),
                    timezone.now(),
                    some,
                ],
            )

    def orm(self, rng, some):
        Message.objects.filter(pk__in=some).update(
            state=rng.choice(STATES),
            last_code=rng.choice(["", "WA401", "WA500"]),
            detail=rng.choice(["", "by hand"]),
            updated_at=timezone.now(),
        )

    def insert_events(self, rng, some):
        now = timezone.now()
        rows = [
            event_row(
                pk,
                f"C{self.n}|{pk}|{time.monotonic_ns()}|{i}",
                rng.choice(["delivered", "read", "sent"]),
                now - timedelta(minutes=rng.randint(0, 3)),
            )
            for i, pk in enumerate(some)
        ]
        with connection.cursor() as cursor:
            insert_status_events(cursor, rows)

    def events(self, rng, some):
        self.insert_events(rng, some)

    def applier(self, rng, some):
        with transaction.atomic():
            self.insert_events(rng, some)
            Message.objects.filter(pk__in=some).update(
                state=rng.choice(["delivered", "read", "failed"]), updated_at=timezone.now()
            )

    def forget(self, rng, some):
        StatusEvent.objects.filter(message_id__in=some, status__in=["delivered", "read"]).filter(
            pk__in=StatusEvent.objects.filter(message_id__in=some).order_by("?").values("pk")[:3]
        ).delete()


class Loop(threading.Thread):
    """Calls `work` until `until` (monotonic); counts calls and what they returned."""

    def __init__(self, work, until: float, errors: list):
        super().__init__(name=work.__name__)
        self.work, self.until, self.errors = work, until, errors
        self.calls = self.total = 0

    def run(self):
        try:
            while time.monotonic() < self.until:
                self.total += self.work() or 0
                self.calls += 1
                time.sleep(0.002)
        except Exception as exc:
            self.errors.append(exc)
        finally:
            connection.close()


def concurrent_campaign(size: int) -> tuple[Campaign, list[int]]:
    campaign = make_campaign()
    queue(campaign, numbers(size))
    ids = list(Message.objects.filter(campaign=campaign).values_list("id", flat=True))
    Message.objects.filter(pk__in=ids).update(
        state="accepted", claimed_at=timezone.now(), attempts=1
    )
    for pk in ids:  # the ids the events name
        Message.objects.filter(pk=pk).update(message_id=f"KAL-C{pk}")
    return campaign, ids


def run_beside_writers(campaign, ids, *others):
    """Writers on `ids` for WRITE_SECONDS, with `others` (Loops) running beside them but for the
    last half second: a count one of them lost or doubled is not put right by a last call made
    once the writers are done."""
    errors: list[Exception] = []
    deadline = time.monotonic() + WRITE_SECONDS
    writers = [Writer(n, ids[n::WRITERS], deadline, errors) for n in range(WRITERS)]
    loops = [Loop(work, deadline - 0.5, errors) for work in others]
    for thread in [*writers, *loops]:
        thread.start()
    for thread in [*writers, *loops]:
        thread.join(WRITE_SECONDS + 30)
    assert not any(t.is_alive() for t in [*writers, *loops]), "a thread is stuck"
    assert errors == [], errors  # no deadlock, no error of any kind
    assert all(writer.writes > 20 for writer in writers), [w.writes for w in writers]
    return loops


@transactional
def test_concurrent_writers_and_compactions_lose_no_count():
    if connection.vendor != "postgresql":
        pytest.skip(POSTGRESQL_ONLY)
    size = 240
    campaign, ids = concurrent_campaign(size)
    torn = []

    def compact():
        return tallies_compact()

    def compact_this_one():
        return tallies_compact([campaign.pk])

    def read():
        """What a dashboard reads mid-compaction: every Message in exactly one state."""
        states = campaign_tallies(campaign.pk).states
        if sum(states.values()) != size:
            torn.append(dict(states))

    compactor, other, reader = run_beside_writers(campaign, ids, compact, compact_this_one, read)

    assert compactor.calls > 10 and other.calls > 10
    assert compactor.total + other.total > 0  # they really folded deltas meanwhile
    assert reader.calls > 10 and torn == []
    assert drift(campaign.pk) == {}
    tallies_compact()
    assert not CampaignTallyDelta.objects.exists()  # every delta folded
    assert drift(campaign.pk) == {}
    assert sum(campaign_tallies(campaign.pk).states.values()) == size


@transactional
def test_a_rebuild_beside_writers_neither_deadlocks_nor_loses_a_count():
    """`rebuild_campaign_stats` on a live database: the engine, the applier and hand-made
    changes go on writing the campaign it recounts."""
    if connection.vendor != "postgresql":
        pytest.skip(POSTGRESQL_ONLY)
    size = 240
    campaign, ids = concurrent_campaign(size)

    def rebuild():
        return tallies_rebuild([campaign.pk])

    def compact():
        return tallies_compact()

    rebuilder, _ = run_beside_writers(campaign, ids, rebuild, compact)

    assert rebuilder.calls > 3
    assert drift(campaign.pk) == {}
    tallies_compact()
    assert not CampaignTallyDelta.objects.exists()
    assert drift(campaign.pk) == {}
    assert sum(campaign_tallies(campaign.pk).states.values()) == size


# --- 3. a send_campaign killed mid-campaign ----------------------------------------------------------


@transactional
def test_a_killed_send_leaves_the_counters_equal_to_a_recount_and_so_does_its_resume(
    start_standin, engine_settings, tmp_path
):
    server = start_standin(latency=0.2)
    campaign = make_campaign()
    phones = [*numbers(500), number_ending("0401"), number_ending("0500")]
    queue(campaign, phones)
    env = command_env(engine_settings, server)
    args = (str(campaign.pk), "--resume", "--rate", "0", "--concurrency", "32", "--no-wait")
    accepted = Message.objects.filter(campaign=campaign, state="accepted")

    first = Command(tmp_path, env, *args)
    try:
        wait_until(lambda: accepted.count() >= 60 or first.proc.poll() is not None, "sends")
    finally:
        first.kill()

    assert first.proc.returncode == -signal.SIGKILL, first.output
    assert accepted.count() < len(phones)
    assert Message.objects.filter(campaign=campaign, state="sending").exists()  # cut mid-run
    assert drift(campaign.pk) == {}
    tallies = campaign_tallies(campaign.pk)
    assert tallies.state_count("sending") > 0
    assert sum(tallies.states.values()) == len(phones)

    time.sleep(HEARTBEAT_LEASE)  # until then its claims might still be a live run's
    resumed = Command(tmp_path, env, *args)
    try:
        code = resumed.wait()
    finally:
        resumed.kill()

    assert code == 1, resumed.output  # WA401 failed; in flight at the kill: unknown
    assert not Message.objects.filter(campaign=campaign, state="sending").exists()
    assert drift(campaign.pk) == {}
    tallies = campaign_tallies(campaign.pk)
    assert tallies.state_count("accepted") == accepted.count() >= len(phones) - 32 - 2
    assert tallies.state_count("accepted", "unknown", "failed", "queued") == len(phones)
    assert tallies.failures[("failed", "", "WA401")] == 1
    assert tallies.retrying == 1  # WA500: its retry is minutes away
    assert sum(tallies.series["sends"].values()) == accepted.count()
    tallies_compact()
    assert drift(campaign.pk) == {}


@transactional
def test_campaigns_deleted_while_compactions_run_leave_no_counters_behind():
    if connection.vendor != "postgresql":
        pytest.skip(POSTGRESQL_ONLY)
    errors: list[Exception] = []
    compactor = Loop(tallies_compact, time.monotonic() + 60, errors)
    compactor.start()
    deleted = []
    try:
        for n in range(20):
            campaign = make_campaign()
            queue(campaign, numbers(20, start=n * 100))
            for state in ("sending", "accepted", "delivered"):  # deltas, some folded meanwhile
                Message.objects.filter(campaign=campaign).update(state=state)
            deleted.append(campaign.pk)
            campaign.delete()
    except Exception as exc:
        errors.append(exc)
    finally:
        compactor.until = 0
        compactor.join(30)
    assert errors == []
    assert compactor.calls > 10
    assert not CampaignTally.objects.filter(campaign_id__in=deleted).exists()
    assert not CampaignTallyDelta.objects.filter(campaign_id__in=deleted).exists()


# --- 6. migrations ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_migration_that_lost_a_counter_trigger_gets_it_back_at_the_end_of_migrate():
    """SQLite drops a table's triggers when a migration rebuilds the table: `migrate` ends by
    creating whatever trigger is missing, so the counters never silently stop."""
    from campaigns.models import tally_sql

    with connection.cursor() as cursor:
        cursor.execute(tally_sql.drop_triggers(connection.vendor)[-1])  # the campaign delete's
        assert tally_sql.missing_triggers(cursor, connection.vendor) == {
            "mpm_tally_campaign_delete"
        }
    call_command("migrate", verbosity=0)  # nothing to apply; post_migrate still looks
    with connection.cursor() as cursor:
        assert tally_sql.missing_triggers(cursor, connection.vendor) == set()
    assert tally_sql.ensure_triggers(connection) is False  # all there: nothing done
    doomed = campaign_with_records(20)
    pk = doomed.pk
    doomed.delete()
    assert not CampaignTally.objects.filter(campaign_id=pk).exists()
