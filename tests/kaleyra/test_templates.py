"""The template list's HTTP seam (`campaigns.kaleyra.templates`) against the stand-in on
127.0.0.1: pages followed, the key sent and never reported, every failure a problem."""

from campaigns.kaleyra import config_from_settings
from campaigns.kaleyra.templates import fetch_templates
from tests.support.provider import API_KEY, SID, refused_url, use_kaleyra_at
from tests.support.templates import PATH, WABA_ID, answer_pages, mpm_template, page


def test_every_page_is_read_by_following_paging_next(provider):
    answer_pages(provider, [mpm_template("a"), mpm_template("b")], [mpm_template("c")])

    listing = fetch_templates(config_from_settings(), WABA_ID)

    assert listing.complete and listing.pages == 2 and listing.problems == []
    assert [t["name"] for t in listing.templates] == ["a", "b", "c"]
    first, second = provider.requests
    assert first.method == "GET" and first.path == PATH
    assert first.path == f"/v2/{SID}/whatsapp/{WABA_ID}/message_templates"
    assert first.headers["api-key"] == API_KEY
    assert first.query == {}  # Kaleyra documents no query parameters: none is sent
    assert second.query == {"limit": "100", "after": "CURSOR1"}


def test_a_refusal_is_a_problem_naming_the_page_and_never_the_key(provider):
    provider.answer(200, page([mpm_template("a")], next_url=f"{provider.base_url}{PATH}?after=X"))
    provider.answer_error("RBC001")

    listing = fetch_templates(config_from_settings(), WABA_ID)

    assert not listing.complete and listing.pages == 1
    assert [t["name"] for t in listing.templates] == ["a"]  # what was read is kept
    [problem] = listing.problems
    assert "page 2" in problem and "HTTP 401" in problem and "Incorrect SID or API key" in problem
    assert "KALEYRA_WABA_ID" in problem
    assert API_KEY not in problem


def test_a_body_that_is_not_json_is_a_problem(provider):
    provider.answer(200, body="<html>Bad gateway</html>", content_type="text/html")

    listing = fetch_templates(config_from_settings(), WABA_ID)

    assert not listing.complete
    assert "page 1" in listing.problems[0] and "not JSON" in listing.problems[0]


def test_json_without_a_data_list_is_a_problem(provider):
    provider.answer(200, {"templates": []})

    listing = fetch_templates(config_from_settings(), WABA_ID)

    assert not listing.complete and '"data"' in listing.problems[0]


def test_no_answer_in_time_is_a_problem(provider, settings):
    settings.KALEYRA_READ_TIMEOUT = 0.3
    provider.hang()

    listing = fetch_templates(config_from_settings(), WABA_ID)

    assert not listing.complete and "in time" in listing.problems[0]


def test_no_connection_is_a_problem(kaleyra_settings):
    use_kaleyra_at(kaleyra_settings, refused_url())

    listing = fetch_templates(config_from_settings(), WABA_ID)

    assert not listing.complete and "Could not read page 1" in listing.problems[0]


def test_paging_next_to_another_host_is_not_followed(provider):
    provider.answer(200, page([mpm_template("a")], next_url="https://elsewhere.test/steal?x=1"))

    listing = fetch_templates(config_from_settings(), WABA_ID)

    assert not listing.complete and len(provider.requests) == 1
    assert "elsewhere.test" in listing.problems[0] and "not followed" in listing.problems[0]
    assert [t["name"] for t in listing.templates] == ["a"]


def test_pages_are_capped(provider):
    answer_pages(provider, [mpm_template("a")], [mpm_template("b")], [mpm_template("c")])

    listing = fetch_templates(config_from_settings(), WABA_ID, max_pages=2)

    assert not listing.complete and listing.pages == 2
    assert "Stopped after 2 pages" in listing.problems[0]


def test_a_next_link_back_to_a_page_read_stops_the_reading(provider):
    provider.answer(200, page([mpm_template("a")], next_url=f"{provider.base_url}{PATH}"))

    listing = fetch_templates(config_from_settings(), WABA_ID)

    assert not listing.complete and "repeats a page" in listing.problems[0]


def test_without_a_waba_id_nothing_is_asked(provider):
    listing = fetch_templates(config_from_settings(), "")

    assert not listing.complete and "KALEYRA_WABA_ID" in listing.problems[0]
    assert provider.requests == []
