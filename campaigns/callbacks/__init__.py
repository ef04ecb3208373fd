"""What Kaleyra's callbacks mean, applied: delivery statuses, replies (STOP / START), orders and
template status changes, read from the `CallbackInbox` the webhooks (`views`) fill.

- `parsing`: a stored body → plain event values (pure);
- `effects`: what each event does (forward-only state moves, opt-outs, pauses, orders, pacing);
- `inbox`: `apply_pending_callbacks`, the batches `manage.py apply_callbacks` runs.

Which id in a callback matches the send answer's `message_id` is uncertain (spec-notes), so the
top-level `message_id`, `extra_info.message_id` and `statuses[].id` are all tried, then
`extra_info.ref` (the engine puts `mpm-<Message id>` there when the campaign leaves it free).
"""

from campaigns.callbacks.effects import (
    FINAL_STATES,
    RANK,
    attributed_message,
    optout_add,
    optout_remove,
    states_below,
)
from campaigns.callbacks.inbox import apply_pending_callbacks, retry_waiting_events
from campaigns.callbacks.parsing import (
    CallbackError,
    IncomingMessage,
    StatusUpdate,
    TemplateStatusUpdate,
    parse_dynamic,
    parse_row,
    parse_template,
    parse_v2,
)

__all__ = [
    "FINAL_STATES",
    "RANK",
    "CallbackError",
    "IncomingMessage",
    "StatusUpdate",
    "TemplateStatusUpdate",
    "apply_pending_callbacks",
    "attributed_message",
    "optout_add",
    "optout_remove",
    "parse_dynamic",
    "parse_row",
    "parse_template",
    "parse_v2",
    "retry_waiting_events",
    "states_below",
]
