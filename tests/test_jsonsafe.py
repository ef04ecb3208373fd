"""jsonsafe.loads refuses exactly what cannot be stored, whether or not it takes the short way
(a document whose text shows it is plainly storable skips the walk over every string)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from campaigns import jsonsafe

texts = st.text(alphabet=st.characters(codec=None, categories=None), max_size=8) | st.sampled_from(
    ["\x00", "\ud800", "a\udfffb", "\\u0000", "plain"]
)
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=40,
)


def refusal(call) -> str | None:
    try:
        call()
    except jsonsafe.JsonRefused as exc:
        return str(exc)
    return None


@given(documents, st.booleans(), st.integers(min_value=1, max_value=6))
def test_the_short_way_refuses_what_the_walk_refuses(document, ascii_only, max_depth):
    text = json.dumps(document, ensure_ascii=ascii_only)
    walked = refusal(lambda: jsonsafe._check(json.loads(text), max_depth))
    assert refusal(lambda: jsonsafe.loads(text, max_depth=max_depth)) == walked


def test_a_nul_or_a_lone_surrogate_is_refused_however_it_is_written():
    for text in ('{"a": "\\u0000"}', '{"a": "\\ud800"}', '{"a": "\ud800"}', '["\\u0000"]'):
        assert "cannot be stored" in refusal(lambda t=text: jsonsafe.loads(t))
    assert jsonsafe.loads('{"a": "\\\\u0000"}') == {"a": "\\u0000"}  # an escaped backslash


def test_depth_beyond_the_limit_is_refused_and_at_it_kept():
    assert jsonsafe.loads("[" * 32 + "]" * 32, max_depth=32)
    assert "nested more than 32" in refusal(lambda: jsonsafe.loads("[" * 33 + "]" * 33))
