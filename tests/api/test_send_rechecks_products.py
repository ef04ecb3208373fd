"""Each trigger of an always-on campaign checks its products again: one that became inactive
since is named in the 422, and nothing is sent."""

import pytest

from campaigns.models import Message, Product
from tests.api.conftest import ASHA
from tests.support.factories import add_section_with, make_campaign, make_product

pytestmark = pytest.mark.django_db


def test_an_always_on_campaigns_trigger_is_refused_naming_the_product(api, provider):
    shirt = make_product(retailer_id="SHIRT-1")
    campaign = make_campaign(sections=(), triggered=True)
    add_section_with(campaign, "Shirts", [shirt])
    Product.objects.filter(pk=shirt.pk).update(active=False)
    answer = api.post(f"/campaigns/{campaign.pk}/send", {"recipients": [{"phone": ASHA}]})
    assert answer.status_code == 422
    assert "Product SHIRT-1 in section 1 is inactive." in str(answer.json()["problems"])
    assert not Message.objects.exists() and provider.requests == []
