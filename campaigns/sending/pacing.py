"""Meta's throughput signals per sender number: after 130429 / 131056 the sender's rate is cut
(halved at most every PACING_STEP_SECONDS, never below MIN_PACING_FACTOR) for a while. The callback
applier writes it (`slow_down`); the engine reads it every half second (`current_pacing_factor`)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from campaigns import conf
from campaigns.kaleyra.answers import explain_meta
from campaigns.models import SenderPacing

PACING_CODES = {"130429": 0.5, "131056": 0.8}
PACING_STEP_SECONDS = 10
MIN_PACING_FACTOR = 0.1


def sender_key(number: str) -> str:
    """A sender number as SenderPacing stores it: digits only (Kaleyra's callbacks drop the +)."""
    return "".join(ch for ch in number or "" if ch.isdigit()) or "default"


def slow_down(*, sender: str, code: str, now=None) -> float:
    """Cut `sender`'s pacing factor for MPM_PACING_SLOWDOWN_SECONDS; returns the new factor."""
    now = now or timezone.now()
    sender = sender_key(sender)
    step = PACING_CODES.get(code, 0.5)
    until = now + timedelta(seconds=conf.MPM_PACING_SLOWDOWN_SECONDS)
    reason = f"Meta {code}: {explain_meta(code).meaning}"[:300]
    with transaction.atomic():
        pacing = SenderPacing.objects.select_for_update().filter(sender=sender).first()
        if pacing is None:
            pacing = SenderPacing(sender=sender, factor=step)
        elif pacing.until <= now:
            pacing.factor = step
        elif pacing.updated_at <= now - timedelta(seconds=PACING_STEP_SECONDS):
            pacing.factor = max(MIN_PACING_FACTOR, pacing.factor * step)
        pacing.code, pacing.reason, pacing.until = code, reason, until
        pacing.save()
    return pacing.factor


def current_pacing_factor(sender: str, *, now=None) -> float:
    """The share of its configured rate `sender` should send at now: 1.0 normally, less for a
    while after Meta's 130429 / 131056. One indexed query; the engine asks every half second."""
    factor = (
        SenderPacing.objects.filter(sender=sender_key(sender), until__gt=now or timezone.now())
        .values_list("factor", flat=True)
        .first()
    )
    return factor if factor else 1.0
