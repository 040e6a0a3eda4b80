"""Official NAR post-processing on token ids (`bang/post_processed_nar.py`)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_bang.generation_bang import collapse_repeated_words, postprocess_nar_tokens


SEP, CLS, PAD = 2, 1, 0
token_lists = st.lists(st.integers(min_value=0, max_value=6), max_size=30)


def reference_postprocess(words: list[str]) -> list[str]:
    """The official word loop, restated on token strings (one stage)."""
    kept: list[str] = []
    for w in words:
        if w == "[SEP]" and kept:
            break
        if w not in ("[SEP]", "[CLS]") and not (kept and w == kept[-1]):
            kept.append(w)
    return kept


def is_subsequence(small: list[int], big: list[int]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@settings(max_examples=300, deadline=None)
@given(token_lists, st.booleans())
def test_output_properties(ids, collapse):
    out = postprocess_nar_tokens(ids, SEP, CLS, PAD, collapse_repeats=collapse)
    assert not {SEP, CLS, PAD} & set(out)
    assert is_subsequence(out, ids)
    assert postprocess_nar_tokens(out, SEP, CLS, PAD, collapse_repeats=collapse) == out  # idempotent
    if collapse:
        assert all(a != b for a, b in zip(out, out[1:], strict=False))
    # Everything kept lies before the first [SEP] that follows a kept token.
    content = [i for i in ids if i not in (SEP, CLS, PAD)]
    if content:
        first_kept = ids.index(content[0])
        stop = next((j for j in range(first_kept, len(ids)) if ids[j] == SEP), len(ids))
        expected = [i for i in ids[:stop] if i not in (SEP, CLS, PAD)]
        if collapse:
            expected = [x for k, x in enumerate(expected) if k == 0 or x != expected[k - 1]]
        assert out == expected
    else:
        assert out == []


@settings(max_examples=200, deadline=None)
@given(token_lists)
def test_matches_the_official_word_loop(ids):
    names = {SEP: "[SEP]", CLS: "[CLS]"}
    words = [names.get(i, f"w{i}") for i in ids if i != PAD]
    expected = reference_postprocess(words)
    out = postprocess_nar_tokens(ids, SEP, CLS, PAD)
    assert [names.get(i, f"w{i}") for i in out] == expected


def test_examples():
    assert postprocess_nar_tokens([SEP, 5, 5, 6, SEP, 7], SEP, CLS) == [5, 6]  # leading [SEP] skipped, stop at next
    assert postprocess_nar_tokens([5, CLS, 5, 6, 6, 6, 5], SEP, CLS) == [5, 6, 5]
    assert postprocess_nar_tokens([5, 5, SEP], SEP, collapse_repeats=False) == [5, 5]
    assert postprocess_nar_tokens(torch.tensor([PAD, 4, PAD, 4]), SEP, pad_token_id=PAD) == [4]
    assert postprocess_nar_tokens([CLS, 4], SEP) == [CLS, 4]  # [CLS] kept when its id is not given
    assert collapse_repeated_words("a a b  b a") == "a b a"
    with pytest.raises(ValueError, match="1-D"):
        postprocess_nar_tokens(torch.zeros(2, 2, dtype=torch.long), SEP)
