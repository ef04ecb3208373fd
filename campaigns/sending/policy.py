"""What happens to a Message after each answer: done, failed for good, retried later, or the
whole campaign paused. Pure: the engine and the single-send path both ask it.

Kaleyra's guidance: RBC001, WA400 and WA401 only after fixing the cause; E110 after a top-up;
WA500 up to 3 retries, at 5, 10 and 15 minutes. A refused connection never left, so it is safe to
retry; a timeout (or a 2xx without a message id) may have reached Kaleyra, so it is never
retried on our own.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from campaigns.kaleyra import Outcome, SendResult
from campaigns.kaleyra.answers import explain

# Account-wide answers: every remaining recipient would get the same one, so stop and say why.
PAUSE_CODES = frozenset({"E110", "WAV2101", "RBC001"})
RETRY_LATER_CODES = frozenset({"WA500"})


@dataclass(frozen=True)
class RetryPolicy:
    wa500_delays: tuple[float, ...] = (300.0, 600.0, 900.0)
    connect_base_delay: float = 2.0
    connect_max_delay: float = 60.0
    connect_max_retries: int = 5
    pause_on_account_errors: bool = True


# A test send is one exchange the user watches: no retries, and a draft is never paused.
SINGLE_EXCHANGE = RetryPolicy(wa500_delays=(), connect_max_retries=0, pause_on_account_errors=False)


def pauses_campaign(result: SendResult, policy: RetryPolicy) -> bool:
    return policy.pause_on_account_errors and result.code in PAUSE_CODES


@dataclass(frozen=True)
class Decision:
    state: str  # a Message.State value
    next_attempt_at: datetime | None = None
    pause_reason: str = ""
    detail: str = ""


ACCEPTED = Decision("accepted")


def decide(
    result: SendResult,
    *,
    attempts: int,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> Decision:
    """The Message's next state after its `attempts`-th exchange ended with `result`."""
    if result.outcome is Outcome.ACCEPTED:
        return ACCEPTED
    explanation = explain(result.result_code, result.http_status)
    said = f"{result.message} " if result.message else ""
    detail = f"{said}{explanation or ''}".strip()[:500]
    if result.may_have_been_sent:
        return Decision("unknown", detail=detail)
    if pauses_campaign(result, policy):
        # The message goes back in the queue; the campaign waits for the operator.
        return Decision("queued", pause_reason=f"{result.code}: {explanation}", detail=detail)
    if result.code in RETRY_LATER_CODES and attempts <= len(policy.wa500_delays):
        delay = policy.wa500_delays[attempts - 1]
        return Decision("queued", now + timedelta(seconds=delay), detail=detail)
    if result.outcome is Outcome.CONNECTION and attempts <= policy.connect_max_retries:
        backoff = min(policy.connect_max_delay, policy.connect_base_delay * 2 ** (attempts - 1))
        delay = backoff * (rng or random).uniform(
            0.5, 1.5
        )  # jitter spreads many workers' retries apart
        return Decision("queued", now + timedelta(seconds=delay), detail=detail)
    retried = result.code in RETRY_LATER_CODES or result.outcome is Outcome.CONNECTION
    if retried and attempts > 1 and explanation is not None:
        # Final after retries: say so; "retry later" advice was followed already (a refused
        # connection's advice names the setting to check, and stays).
        then = (
            explanation.action
            if result.outcome is Outcome.CONNECTION
            else "Send it again by hand later."
        )
        detail = f"{said}{explanation.meaning} Failed for good after {attempts} attempts. {then}"
        detail = detail.strip()[:500]
    return Decision("failed", detail=detail)
