"""`storable` (shared/contracts/types.py): its one-pass check of nested values refuses exactly what
the walk through every string refuses, with the same reason."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.types import Refusal, _walk_storable, storable

# Text that may hold NULs, lone surrogates and the literal six characters "\u0000".
texts = st.one_of(st.text(), st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "\\u0000", "é"]))
leaves = st.one_of(texts, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
nested = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(texts, st.integers()), inner, max_size=4),
        st.frozensets(texts, max_size=3),
    ),
    max_leaves=20,
)


def verdict(check, value) -> str:
    try:
        check(value)
    except Refusal as refusal:
        return str(refusal)
    return "stored"


@given(nested)
def test_the_quick_check_refuses_exactly_what_the_walk_refuses(value):
    assert verdict(storable, value) == verdict(_walk_storable, value)


def test_a_literal_backslash_u0000_is_text_like_any_other_and_a_nul_is_not():
    assert storable({"a": ["\\u0000"]}) == {"a": ["\\u0000"]}
    assert verdict(storable, {"a": ["x\x00"]}) == "text must not contain NUL characters"
    assert verdict(storable, {"\ud800": 1}) == "text must be valid Unicode (a lone surrogate was found)"
