"""Kaleyra's v2 callback bodies (spec-notes shapes), built in one place: the sandbox posts them,
and the tests and the ingest benchmark post the same shapes. Pure: no settings, no Django."""


def metadata(sender: str, phone_number_id: str = "1") -> dict:
    """The business number a callback is about, as Meta names it (digits only)."""
    return {"display_phone_number": sender, "phone_number_id": phone_number_id}


def meta_error(code: int, title: str, details: str = "") -> dict:
    """One entry of a failed status's `errors`, as Meta words it."""
    return {"code": code, "title": title, "message": title, "error_data": {"details": details}}


def _envelope(sender_metadata: dict, value: dict, extra_info: dict, **top) -> dict:
    return {
        "meta_object": {
            "field": "messages",
            "value": {"messaging_product": "whatsapp", "metadata": sender_metadata, **value},
        },
        "extra_info": extra_info,
        **top,
    }


def status_callback(
    status: str,
    *,
    event_id: str,
    recipient: str,
    timestamp: str,
    sender_metadata: dict,
    extra_info: dict,
    message_id: str = "",
    **fields,
) -> dict:
    """A status callback: Meta's status event (plus `fields`, e.g. errors or pricing) inside
    Kaleyra's envelope, which repeats the status and Kaleyra's own message id."""
    event = {"id": event_id, "status": status, "timestamp": timestamp, "recipient_id": recipient}
    return _envelope(
        sender_metadata,
        {"statuses": [event | fields]},
        extra_info,
        status=status,
        message_id=message_id,
    )


def incoming_callback(
    message: dict, *, sender: str, name: str, timestamp: str, sender_metadata: dict
) -> dict:
    """A customer's message (a reply, an order) from `sender` (digits), with its `id`/`type`."""
    return _envelope(
        sender_metadata,
        {
            "contacts": [{"profile": {"name": name}, "wa_id": sender}],
            "messages": [{"from": sender, "timestamp": timestamp, **message}],
        },
        {"ref": "", "ref1": "", "ref2": "", "reply_to": "", "media_url": ""},
    )
