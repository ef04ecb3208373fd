"""Reading campaigns the way validation, the payload and the engine need them."""

from django.db.models import Count, Prefetch

from . import limits
from .models import Campaign, Message, Section, SectionItem
from .payload import MpmContent, SectionContent


def campaign_for_sending(campaign_id: int) -> Campaign:
    """A campaign with everything validation and the payload need, in four queries."""
    items = SectionItem.objects.select_related("product").order_by("position", "id")
    sections = Section.objects.order_by("position", "id").prefetch_related(
        Prefetch("items", queryset=items)
    )
    return (
        Campaign.objects.select_related("template", "thumbnail_product")
        .prefetch_related(Prefetch("sections", queryset=sections))
        .get(pk=campaign_id)
    )


def campaign_content(campaign: Campaign) -> MpmContent:
    template = campaign.template
    return MpmContent(
        template_name=template.name,
        language=template.language,
        button_index=template.button_index,
        thumbnail_retailer_id=campaign.thumbnail_product.retailer_id
        if campaign.thumbnail_product
        else "",
        sections=tuple(
            SectionContent(s.title, tuple(i.product.retailer_id for i in s.items.all()))
            for s in campaign.sections.all()
        ),
        header_variable_count=template.header_variable_count,
        body_variable_count=template.body_variable_count,
        header_value=campaign.header_value,
        body_values=tuple(campaign.body_values or ()),
        extra_info={
            **{name: getattr(campaign, name) for name in limits.REF_FIELDS},
            "wa_source": campaign.wa_source,
        },
    )


def campaign_progress(campaign_id: int) -> dict:
    """Where a campaign's real messages stand, by state, in one query."""
    counts = dict(
        Message.objects.filter(campaign_id=campaign_id, is_test=False)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    campaign = Campaign.objects.values("state", "paused_reason").get(pk=campaign_id)
    total = sum(counts.values())
    settled = sum(counts.get(s, 0) for s in ("accepted", "failed", "unknown", "skipped"))
    return {
        "state": campaign["state"],
        "paused_reason": campaign["paused_reason"],
        "counts": {state: counts.get(state, 0) for state in Message.State.values},
        "total": total,
        "percent": round(100 * settled / total) if total else 0,
    }
