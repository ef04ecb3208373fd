"""The API's docs page in a real browser: Swagger UI loads from the app's own static files under
its Content-Security-Policy (the autouse fixture fails on any violation), and a call tried from
it with a token reaches the API."""

import pytest

from campaigns.services.api import api_token_create
from tests.api.conftest import user_with

pytestmark = pytest.mark.e2e


def test_the_docs_page_tries_a_call_with_a_token(page, live_server, transactional_db):
    token = api_token_create(
        user=user_with("view_campaign"), name="docs", can_read=True, can_send=False
    )[1]
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector("#operations-catalog-campaigns_api_views_template_list")
    page.click("button.authorize")
    page.fill(".auth-container input", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click("button.btn-done")
    page.click("#operations-catalog-campaigns_api_views_template_list .opblock-summary-control")
    page.click("button.try-out__btn")
    page.click("button.execute")
    status = page.wait_for_selector(".live-responses-table tbody .response-col_status")
    assert status.inner_text().strip() == "200"
