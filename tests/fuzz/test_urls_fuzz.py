"""Ids past the database's integers in every URL, and random query strings on every page that
reads one: a 404 or the page, never a 5xx."""

from hypothesis import given
from hypothesis import strategies as st

from tests.support import hostile

CAMPAIGN_PAGES = [
    "/campaigns/{}/",
    "/campaigns/{}/edit/",
    "/campaigns/{}/send/",
    "/campaigns/{}/progress/",
    "/campaigns/{}/dashboard.json",
    "/campaigns/{}/results.csv",
    "/admin/campaigns/campaign/{}/change/",
    "/admin/campaigns/campaign/{}/send-test/",
    "/admin/campaigns/campaign/{}/send/",
    "/admin/campaigns/campaign/{}/progress/",
    "/admin/campaigns/message/{}/change/",
    "/admin/campaigns/callbackinbox/{}/change/",
]
LIST_PAGES = [
    "/campaigns/",
    "/campaigns/results/",
    "/campaigns/{}/",
    "/campaigns/{}/results.csv",
    "/campaigns/products/",
    "/admin/campaigns/campaign/",
    "/admin/campaigns/message/",
    "/admin/campaigns/callbackinbox/",
    "/admin/campaigns/statusevent/",
    "/admin/campaigns/order/",
    "/admin/campaigns/product/",
]
query_keys = st.sampled_from(["page", "p", "q", "sort", "state", "code", "o", "kind", "problem"])
queries = st.dictionaries(
    query_keys | hostile.texts, hostile.texts | hostile.big_ints.map(str), max_size=4
)


def body(response) -> bytes:
    """The whole answer, streamed ones included (a CSV fails only while it streams)."""
    return b"".join(response.streaming_content) if response.streaming else response.content


@given(page=st.sampled_from(CAMPAIGN_PAGES), ident=hostile.big_ints.filter(lambda n: n >= 0))
def test_any_id_in_a_url_is_a_page_or_a_404(staff, campaign, page, ident):
    response = staff.get(page.format(ident))
    body(response)
    assert response.status_code in (200, 302, 404)


@given(page=st.sampled_from(LIST_PAGES), query=queries)
def test_any_query_string_is_read_or_ignored(staff, campaign, page, query):
    response = staff.get(page.format(campaign.pk), query)
    body(response)
    assert response.status_code in (200, 302, 400)
