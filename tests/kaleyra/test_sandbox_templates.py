"""The sandbox's template list (`GET /sandbox/v2/<sid>/whatsapp/<waba_id>/message_templates`):
Meta's shape, `limit` and `after`, `paging.next` an absolute URL built from the request."""

from urllib.parse import parse_qs, urlsplit

import pytest

from campaigns.kaleyra import SANDBOX_API_KEY
from campaigns.kaleyra.sandbox.templates import SANDBOX_TEMPLATES
from campaigns.services.template_parsing import parse_template

URL = "/sandbox/v2/SANDBOX/whatsapp/SANDBOXWABA/message_templates"


def get(client, url=URL, key=SANDBOX_API_KEY, **query):
    return client.get(url, query, headers={"api-key": key})


def test_pages_follow_one_another_to_the_end(client):
    names, url, query = [], URL, {}
    for _ in range(10):
        answer = get(client, url, **query).json()
        names += [t["name"] for t in answer["data"]]
        link = answer["paging"].get("next")
        if not link:
            break
        parts = urlsplit(link)
        assert parts.scheme == "http" and parts.netloc == "testserver"  # from the request
        url, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert names == [t["name"] for t in SANDBOX_TEMPLATES]
    assert len(SANDBOX_TEMPLATES) > 2  # so there is a second page by default


def test_limit_sets_the_page_size(client):
    answer = get(client, limit=100).json()

    assert len(answer["data"]) == len(SANDBOX_TEMPLATES) and "next" not in answer["paging"]


def test_every_sandbox_template_parses_and_one_has_no_mpm_button():
    parsed = [parse_template(t) for t in SANDBOX_TEMPLATES]

    assert all(p.fields and not p.problems for p in parsed)
    assert [p.fields["has_mpm_button"] for p in parsed].count(False) >= 1


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "x"}, {"after": "nonsense!"}])
def test_bad_paging_is_a_wa400(client, query):
    response = get(client, **query)

    assert response.status_code == 400 and response.json()["code"] == "WA400"


def test_a_wrong_key_is_refused(client):
    response = get(client, key="wrong")

    assert response.status_code == 401 and response.json()["code"] == "RBC001"


def test_there_is_no_sandbox_in_live_mode(client, kaleyra_settings):
    assert get(client).status_code == 404
