"""Kaleyra's callback bodies for tests, with the defaults a test rarely cares about; the shapes
come from the sandbox's builders (`campaigns.kaleyra.sandbox.envelopes`), so both stay alike."""

from campaigns.kaleyra.sandbox import envelopes
from campaigns.kaleyra.sandbox.callbacks import callback_plan

SENDER = envelopes.metadata("919000000001")
ASHA_DIGITS = "919876543210"


def v2_status(
    status, *, message_id="", meta_id="wamid.X", extra_id="", ref="", ts="1750857384", **fields
):
    """A v2 status callback; `fields` go into Meta's status event (errors, price, recipient_id…)."""
    return envelopes.status_callback(
        status,
        event_id=meta_id,
        recipient=fields.pop("recipient_id", ASHA_DIGITS),
        timestamp=ts,
        sender_metadata=SENDER,
        extra_info={"trace_id": "t", "message_id": extra_id, "waba_id": "w", "ref": ref},
        message_id=message_id,
        **fields,
    )


def meta_error(code, title="An error"):
    """A status's `errors`: one Meta error with this code."""
    return [envelopes.meta_error(code, title, details="more")]


def v2_incoming(phone, message, *, name="Asha", ts="1750857384"):
    return envelopes.incoming_callback(
        message, sender=phone.lstrip("+"), name=name, timestamp=ts, sender_metadata=SENDER
    )


def text_reply(phone, text, ident="wamid.IN1"):
    return v2_incoming(phone, {"id": ident, "type": "text", "text": {"body": text}})


def order_message(phone, items, ident="wamid.ORDER1", ts="1750857384"):
    order = {"catalog_id": "CAT1", "text": "Please deliver soon", "product_items": items}
    return v2_incoming(phone, {"id": ident, "type": "order", "order": order}, ts=ts)


def sandbox_statuses(message) -> list[str]:
    """The statuses the sandbox posts for an accepted Message, in order."""
    plan = callback_plan(
        to=message.to,
        message_id=message.message_id,
        extra_info={},
        sender="",
        products=list,
        start=0,
        step=1,
    )
    values = [body["meta_object"]["value"] for _, body in plan]
    return [value["statuses"][0]["status"] for value in values if "statuses" in value]
