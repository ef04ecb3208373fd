"""Which sender a send goes out as: the campaign's own, else the default sender, else (with no
Sender at all) the KALEYRA_* settings, exactly as before senders existed. Resolved once per
campaign run (or test send), never per message."""

from django.core.exceptions import ImproperlyConfigured

from campaigns import conf
from campaigns.kaleyra import SenderAccount, settings_account
from campaigns.models import Campaign, Sender
from campaigns.selectors.senders import default_sender


def sender_account(sender: Sender) -> SenderAccount:
    """A Sender row as the plain value the engine and the Kaleyra client take."""
    return SenderAccount(
        number=sender.business_number,
        sid=sender.sid,
        region=sender.region,
        api_key_variable=sender.api_key_variable,
        rate_per_second=float(sender.rate_per_second),
        display_name=sender.display_name,
        sender_id=sender.pk,
    )


def campaign_sender_account(campaign: Campaign | None) -> SenderAccount:
    """The account `campaign` sends from (None: what a campaign without a sender uses).
    ImproperlyConfigured, in plain words, when its sender is inactive."""
    sender = campaign.sender if campaign is not None and campaign.sender_id else None
    if sender is not None:
        if not sender.active:
            raise ImproperlyConfigured(
                f"the campaign's sender {sender} is inactive: choose an active sender for it "
                "in the composer (or make this one active again)."
            )
        return sender_account(sender)
    default = default_sender()
    return sender_account(default) if default is not None else settings_account()


def send_rate(account: SenderAccount) -> float:
    """Messages per second a run from `account` goes at (0: no limit): the sender's own rate,
    unless KALEYRA_RATE_PER_SECOND=0 turns every limit off (local stand-ins and benchmarks,
    whose made-up senders were made by migration 0029 at Meta's default 80/s)."""
    if not conf.KALEYRA_RATE_PER_SECOND:
        return 0.0
    return account.rate_per_second


def campaign_rate(campaign: Campaign) -> float:
    """Messages per second `campaign` goes out at (for estimates; 0: no limit)."""
    if campaign.sender_id:
        return send_rate(sender_account(campaign.sender))
    default = default_sender()
    return send_rate(sender_account(default) if default else settings_account())
