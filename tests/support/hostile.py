"""Hypothesis strategies for hostile input: the values that broke the app before (NUL, numbers
past the database's range, NaN, times at the calendar's ends, deep nesting) mixed with random
ones, and shapes close enough to the real thing to reach the code behind the first check."""

import json

from hypothesis import strategies as st

NUMBERS_TOO_LARGE = [2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**20, 10**30, -(2**63) - 1]
EDGE_TEXT = [
    "",
    "\x00",
    "a\x00b",
    "\ufeff",
    "\u202e",
    "NaN",
    "-Infinity",
    "1e999",
    "-0",
    "9" * 30,
    "9" * 5000,
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "253402300800",
    "' OR 1=1 --",
    "<script>x</script>",
    "=HYPERLINK()",
]

big_ints = st.sampled_from(NUMBERS_TOO_LARGE) | st.integers()
texts = st.sampled_from(EDGE_TEXT) | st.text(max_size=40) | big_ints.map(str)
scalars = st.none() | st.booleans() | big_ints | st.floats() | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)


def nested(depth: int) -> str:
    return '{"a":' * depth + "[" * depth + "]" * depth + "}" * depth


deep_json = st.integers(20, 3000).map(nested)


def maybe(strategy):
    """A field that is sometimes missing: None drops the key (see `without_none`)."""
    return st.none() | strategy


def without_none(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None}


def documents(fields: dict):
    """A JSON object with these optional keys (each a strategy) and sometimes a random extra."""
    return st.fixed_dictionaries({k: maybe(v) for k, v in fields.items()}).map(without_none)


# --- Kaleyra's callbacks, close to the real shapes ------------------------------------------------

ids = st.sampled_from(["KAL1", "wamid.A1", "mpm-1", "mpm-99999999999999999999"]) | texts
phones = st.sampled_from(["919876543210", "+919876543210", "1" * 40]) | texts
times = st.sampled_from(["1750857384", "1750857384000", "2025-06-25 13:16:24"]) | scalars
amounts = st.sampled_from(["12.50", "NaN", "1e30", "-1", "9999999999.99"]) | scalars
statuses = st.sampled_from(["sent", "delivered", "read", "failed", "not-sent"]) | texts

meta_errors = st.lists(
    documents({"code": scalars, "title": texts, "error_data": json_values}), max_size=2
)
meta_statuses = documents(
    {
        "id": ids,
        "status": statuses,
        "timestamp": times,
        "recipient_id": phones,
        "price": amounts,
        "currency": texts,
        "errors": meta_errors,
    }
)
order_items = documents(
    {
        "product_retailer_id": st.sampled_from(["SKU-00001"]) | texts,
        "quantity": st.sampled_from([1, 3, 2**31, 10**30, "NaN"]) | scalars,
        "item_price": amounts,
        "currency": texts,
    }
)
meta_messages = documents(
    {
        "from": phones,
        "id": ids,
        "timestamp": times,
        "type": st.sampled_from(["text", "order", "button", "interactive"]) | texts,
        "text": documents({"body": st.sampled_from(["STOP", "START"]) | texts}),
        "context": documents({"id": ids}),
        "order": documents(
            {"catalog_id": texts, "text": texts, "product_items": st.lists(order_items, max_size=3)}
        ),
    }
)
v2_callbacks = documents(
    {
        "message_id": ids,
        "status": statuses,
        "timestamp": times,
        "price": amounts,
        "extra_info": documents({"ref": ids, "message_id": ids, "price": amounts}),
        "meta_object": documents(
            {
                "field": st.sampled_from(["messages", "message_template_status_update"]),
                "value": documents(
                    {
                        "statuses": st.lists(meta_statuses, max_size=3),
                        "messages": st.lists(meta_messages, max_size=2),
                        "contacts": st.lists(documents({"wa_id": phones}), max_size=1),
                        "metadata": documents({"display_phone_number": phones}),
                        "event": statuses,
                        "message_template_name": texts,
                    }
                ),
            }
        ),
    }
)
flat_callbacks = documents(
    {
        "id": ids,
        "status": statuses,
        "mobile": phones,
        "from": phones,
        "wanumber": phones,
        "error_code": scalars,
        "error": json_values,
        "price": amounts,
        "timestamp": times,
        "created_at": times,
        "body": texts,
        "event": statuses,
        "message_template_name": texts,
        "message_template_language": texts,
        "reason": texts,
    }
)
callback_documents = v2_callbacks | flat_callbacks | json_values
callback_bodies = (
    callback_documents.map(lambda doc: json.dumps(doc).encode())
    | st.lists(callback_documents, max_size=3).map(lambda docs: json.dumps(docs).encode())
    | deep_json.map(str.encode)
    | st.binary(max_size=200)
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
        "application/json\x00",
    ]
)
