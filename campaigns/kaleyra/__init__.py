"""The provider seam: Kaleyra's settings, its answers as values, and the only code that talks HTTP
to it. It knows nothing of the ORM; `sandbox/` beside it is the offline Kaleyra."""

from campaigns.kaleyra.client import KaleyraClient, NotSent
from campaigns.kaleyra.config import (
    SANDBOX_API_KEY,
    KaleyraConfig,
    SenderAccount,
    config_for,
    config_from_settings,
    request_headers,
    settings_account,
)
from campaigns.kaleyra.results import Outcome, SendResult, elapsed_ms, parse_answer

__all__ = [
    "SANDBOX_API_KEY",
    "KaleyraClient",
    "KaleyraConfig",
    "NotSent",
    "Outcome",
    "SendResult",
    "SenderAccount",
    "config_for",
    "config_from_settings",
    "elapsed_ms",
    "parse_answer",
    "request_headers",
    "settings_account",
]
