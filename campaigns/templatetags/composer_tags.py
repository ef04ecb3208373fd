"""Template helpers for the composer's pages."""

from django import template

from campaigns.services import composer

register = template.Library()


@register.filter
def money(product) -> str:
    """A product's price as a shopper reads it: ₹3,499.00."""
    return composer.money(product.price, product.currency)


@register.filter
def state_badge(state: str) -> str:
    """The Bootstrap colour of a campaign or message state."""
    return {
        "draft": "secondary",
        "sending": "primary",
        "paused": "warning",
        "completed": "success",
        "cancelled": "dark",
        "queued": "secondary",
        "accepted": "success",
        "failed": "danger",
        "unknown": "warning",
        "skipped": "light",
        "sent": "info",
        "delivered": "success",
        "read": "success",
        "not_sent": "danger",
    }.get(state, "secondary")


@register.filter
def for_field(problems, field: str) -> list:
    """The problems about one field."""
    return [problem for problem in problems if problem.field == field]


@register.filter
def percent(value) -> str:
    """A rate as the dashboard shows it: 92.3%, or a dash when there is nothing to divide."""
    return "—" if value is None else f"{value:.1f}%"


@register.filter
def bar_width(value) -> str:
    """A percentage as a CSS width (dot decimal whatever the locale), 0 when unknown."""
    return f"{max(0.0, min(100.0, value or 0)):.1f}%"


FUNNEL_LABELS = {
    "queued": "Queued",
    "accepted": "Accepted by Kaleyra",
    "sent": "Sent to WhatsApp",
    "delivered": "Delivered",
    "read": "Read",
}


@register.filter
def funnel_label(step: str) -> str:
    return FUNNEL_LABELS.get(step, step)


@register.filter
def money_in(amount, currency: str) -> str:
    """An amount in a currency: ₹3,499.00."""
    return composer.money(amount or 0, currency or "")


@register.filter
def duration(value) -> str:
    """A timedelta in words: "15 minutes", "2 hours"."""
    minutes = round(value.total_seconds() / 60)
    if minutes % 60 == 0 and minutes >= 60:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@register.filter
def own_products(overrides: dict) -> list[tuple[str, str]]:
    """A personalised Message's sections as (title, "SKU1, SKU2"), as it was sent."""
    return [
        (section["title"], ", ".join(section["retailer_ids"]))
        for section in (overrides or {}).get("sections", ())
    ]
