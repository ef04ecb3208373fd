"""Template helpers for the composer's pages."""

from django import template

from .. import composer
from ..models import Message

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
    }.get(state, "secondary")


@register.filter
def for_field(problems, field: str) -> list:
    """The problems about one field."""
    return [problem for problem in problems if problem.field == field]


@register.filter
def message_state_label(state: str) -> str:
    """A message state as people read it ("Unknown (may have been sent)" for "unknown")."""
    try:
        return Message.State(state).label
    except ValueError:
        return state
