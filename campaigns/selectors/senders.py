"""Reads about senders: which can be chosen, which is the default, which numbers are ours."""

from django.db.models import Q

from campaigns.models import Sender
from campaigns.models.senders import digits


def active_senders() -> list[Sender]:
    """The senders a campaign may choose, the default first."""
    return list(Sender.objects.active())


def default_sender() -> Sender | None:
    """The active default sender; None when there is none (sends then use the settings)."""
    return Sender.objects.default().first()


def sender_by_reference(value: int | str) -> Sender | None:
    """A sender by its id (a number) or by its business number (text, with or without the +,
    as the API takes it); None when no sender matches."""
    if isinstance(value, int):
        return Sender.objects.filter(pk=value).first() if 0 < value < 2**63 else None
    wanted = digits(value)
    if not wanted or len(wanted) > 15:
        return None
    return Sender.objects.filter(business_number=f"+{wanted}").first()


def sent_from(sender: Sender) -> Q:
    """Campaigns that go out from `sender`: those that chose it, and, for the default sender,
    those that chose none."""
    chosen = Q(sender=sender)
    return chosen | Q(sender__isnull=True) if sender.is_default and sender.active else chosen
