"""Random and malformed bodies thrown at every callback endpoint, then applied: never a 5xx;
a refused body stores nothing; a stored one is applied or kept with a named reason (never
`failed`, which would be our bug), and one kept unapplied changed nothing else."""

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from campaigns.callbacks import apply_pending_callbacks
from campaigns.models import CallbackInbox, Message, OptOut, Order, OrderItem, StatusEvent
from tests.fuzz.conftest import SECRET
from tests.support import hostile
from tests.support.factories import make_campaign, make_message, make_product

CALLBACK_URLS = [
    "/callbacks/kaleyra/",
    "/callbacks/kaleyra/templates/",
    "/callbacks/kaleyra/dynamic/",
]


@pytest.fixture
def matching_rows(callback_settings):
    """Callbacks that match: a message with the ids the strategies use, and a product."""
    make_message(make_campaign(), "+919876543210", message_id="KAL1")
    make_product(retailer_id="SKU-00001")


@pytest.fixture
def token_settings(callback_settings):
    callback_settings.KALEYRA_CALLBACK_CLIENT_ID = ["kaleyra-client"]
    callback_settings.KALEYRA_CALLBACK_CLIENT_SECRET = ["client-secret"]
    return callback_settings


def written() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (StatusEvent, Order, OrderItem, OptOut, Message)
    )


def apply_and_check(rows_before: int):
    """Apply what was stored; each row is applied or kept with a reason, nothing in between."""
    for row in CallbackInbox.objects.filter(id__gt=rows_before).order_by("id"):
        before = written()
        apply_pending_callbacks(limit=1)
        row.refresh_from_db()
        assert row.processed_at is not None
        assert row.problem != CallbackInbox.Problem.FAILED, row.error
        if row.error:
            assert row.problem, row.error
            assert written() == before, row.error  # kept, not half-applied


@given(
    url=st.sampled_from(CALLBACK_URLS), body=hostile.callback_bodies, ctype=hostile.content_types
)
def test_any_body_is_stored_or_refused_and_any_stored_one_is_applied_or_kept(
    matching_rows, url, body, ctype
):
    rows_before = CallbackInbox.objects.count()
    latest = CallbackInbox.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response = Client().post(url, body, content_type=ctype, headers=SECRET)
    assert response.status_code in (200, 400, 413), response.content
    stored = CallbackInbox.objects.count() - rows_before
    assert stored == (1 if response.status_code == 200 else 0)
    apply_and_check(latest)


@given(
    url=st.sampled_from(["/callbacks/kaleyra/templates/", "/callbacks/kaleyra/dynamic/"]),
    fields=st.dictionaries(hostile.texts, hostile.texts, max_size=6),
)
def test_query_and_form_callbacks_are_stored_or_refused(matching_rows, url, fields):
    latest = CallbackInbox.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for response in (
        Client().get(url, fields, headers=SECRET),
        Client().post(url, fields, headers=SECRET),
    ):
        assert response.status_code in (200, 400), response.content
    apply_and_check(latest)


@given(
    body=st.binary(max_size=300) | hostile.callback_bodies | hostile.deep_json.map(str.encode),
    ctype=hostile.content_types,
    authorization=st.none() | hostile.texts.map(lambda t: f"Basic {t}"),
)
def test_the_token_endpoint_answers_4xx_to_anything_but_the_right_credentials(
    token_settings, body, ctype, authorization
):
    headers = {"Authorization": authorization} if authorization else {}
    response = Client().post("/callbacks/kaleyra/token/", body, content_type=ctype, headers=headers)
    assert response.status_code in (400, 401, 413), response.content
