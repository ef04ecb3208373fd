"""What the composer posts, built from a saved campaign: shared by the composer and role tests."""

import json

from campaigns.models import Campaign
from campaigns.selectors import campaign_for_sending


def composer_data(campaign: Campaign | None = None, **changes) -> dict:
    """What the composer posts for a campaign (its saved content), with `changes`."""
    data = {"name": "Cart reminder", "wa_source": "api", "sections": "[]"}
    if campaign is not None:
        campaign = campaign_for_sending(campaign.pk)
        data.update(
            name=campaign.name,
            template=str(campaign.template_id),
            header_value=campaign.header_value,
            thumbnail=campaign.thumbnail_product.retailer_id if campaign.thumbnail_product else "",
            ref=campaign.ref,
            ref1=campaign.ref1,
            ref2=campaign.ref2,
            wa_source=campaign.wa_source,
            sections=json.dumps(
                [
                    {"title": s.title, "products": [i.product.retailer_id for i in s.items.all()]}
                    for s in campaign.sections.all()
                ]
            ),
        )
        for number, value in enumerate(campaign.body_values, start=1):
            data[f"body_{number}"] = value
    data.update(changes)
    return data
