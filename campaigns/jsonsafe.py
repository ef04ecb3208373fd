"""JSON from outside (callback bodies, the composer's sections) read so that whatever it holds
can be stored: strict RFC 8259 (no NaN or Infinity), nested at most MAX_DEPTH levels (deeper
nesting exhausts Python's stack), and no text a database refuses (NUL, which PostgreSQL cannot
store; lone surrogates, which are not UTF-8). Refused input raises `JsonRefused` saying why.
"""

import json
import re

# Kaleyra's deepest callback (an order inside Meta's webhook) nests about 8 levels.
MAX_DEPTH = 32
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JsonRefused(ValueError):
    """The text is not JSON this app can keep; the message says why, in plain words."""


def _no_constants(name: str):
    raise JsonRefused(f"it holds {name}, which JSON does not allow")


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH):
    """The JSON document in `text`, checked as the module says (JsonRefused otherwise)."""
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused(f"it is nested more than {max_depth} levels deep") from None
    except ValueError as exc:  # includes UnicodeDecodeError and json.JSONDecodeError
        raise JsonRefused(f"it is not JSON ({exc})") from None
    if not _plainly_storable(text, max_depth):
        _check(data, max_depth)
    return data


def _plainly_storable(text: str | bytes, max_depth: int) -> bool:
    """True when the text alone shows the walk would find nothing: no \\u escape (strict JSON
    has no raw control character, so a NUL or a surrogate written in it needs one), no raw
    NUL or surrogate, and no more brackets than the depth allowed. Most callbacks are so: the
    walk was a tenth of their cost."""
    if not isinstance(text, str):
        return False
    return (
        "\\u" not in text
        and not _UNSTORABLE.search(text)
        and text.count("{") + text.count("[") <= max_depth
    )


def _check(data, max_depth: int):
    """Walk the document without recursion: depth and every string (keys included)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise JsonRefused(
                    "it holds a NUL character or a lone surrogate (\\u0000, \\ud800…), "
                    "which cannot be stored"
                )
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            raise JsonRefused(f"it is nested more than {max_depth} levels deep")
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for key, item in items:
            if key is not None:
                pending.append((key, depth))
            pending.append((item, depth + 1))


def storable(data):
    """`data` (our own, shallow: lists, tuples, dicts of strings and numbers) with every NUL or
    lone surrogate in its strings shown as U+FFFD: what a user typed can then be kept in a JSON
    column on PostgreSQL, and shown back, even when it cannot be sent."""
    if isinstance(data, str):
        return _UNSTORABLE.sub("\N{REPLACEMENT CHARACTER}", data)
    if isinstance(data, dict):
        return {storable(key): storable(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [storable(item) for item in data]
    return data
