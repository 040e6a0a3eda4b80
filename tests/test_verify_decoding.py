"""Lossless semi-NAR decoding, `generate(decoding_mode="semi_nar", semi_nar_acceptance="verify")`: blockwise parallel
decoding whose output is greedy AR decoding's token for token, 1 to k tokens per decoder pass."""

import pytest
import torch

import modeling_bang.modeling_bang as modeling
from modeling_bang.generation_bang import kept_cache_slots, verified_token_counts

from .helpers import tiny_model


VERIFY = {"decoding_mode": "semi_nar", "semi_nar_acceptance": "verify"}


def sources(config, lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ordinary ids ending with [SEP], one row per length, right-padded to the longest."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(5, config.vocab_size, (len(lengths), width), generator=generator)
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    ids[torch.arange(len(lengths)), torch.tensor(lengths) - 1] = config.eos_token_id
    return ids.masked_fill(mask.eq(0), config.pad_token_id), mask


def sep_prone_model(seed: int, ngram: int, lengths=(9, 6, 4, 8)):
    """A tiny random model whose [SEP] row of the output projection is a noisy copy of the row of its most frequent
    greedy token, so that greedy decoding ends some rows early and not others (and min_new_tokens matters)."""
    model = tiny_model(seed=seed, init_std=0.3, ngram=ngram, tie_word_embeddings=False)
    ids, mask = sources(model.config, list(lengths), seed)
    with torch.no_grad():
        frequent = torch.mode(model.generate(ids, attention_mask=mask, max_new_tokens=12)[:, 1:].flatten()).values
        noise = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(seed))
        model.lm_head.weight[model.config.eos_token_id] = model.lm_head.weight[frequent] + 0.3 * noise
    return model, ids, mask


def greedy(model, ids, mask, **settings) -> torch.Tensor:
    return model.generate(ids, attention_mask=mask, decoding_mode="ar", num_beams=1, do_sample=False, **settings)


def verify(model, ids, mask, block_size: int, **settings):
    return model.generate(
        ids, attention_mask=mask, semi_nar_block_size=block_size, return_dict_in_generate=True, **VERIFY, **settings
    )


def new_tokens(sequences: torch.Tensor, pad: int, eos: int) -> list[int]:
    """Each row's generated tokens after the start token, its [SEP] included (padding after [SEP] excluded)."""
    counts = []
    for row in sequences[:, 1:].tolist():
        counts.append(row.index(eos) + 1 if eos in row else len(row))
    return counts


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("ngram", "block_size"), [(2, 1), (2, 2), (3, 1), (3, 2), (3, 3)])
@pytest.mark.parametrize("min_new_tokens", [None, 5])
def test_verify_equals_greedy_ar_on_padded_batches(seed, ngram, block_size, min_new_tokens):
    model, ids, mask = sep_prone_model(seed, ngram)
    settings = {"max_new_tokens": 12, "min_new_tokens": min_new_tokens}
    expected = greedy(model, ids, mask, **settings)
    out = verify(model, ids, mask, block_size, **settings)
    assert torch.equal(out.sequences, expected)
    counts = new_tokens(expected, model.config.pad_token_id, model.config.eos_token_id)
    assert out.tokens_per_pass.shape == out.decoder_passes.shape == (ids.shape[0],)
    assert torch.allclose(out.tokens_per_pass * out.decoder_passes, torch.tensor(counts, dtype=torch.float))
    assert bool((out.tokens_per_pass >= 1).all()) and bool((out.tokens_per_pass <= block_size).all())
    if block_size == 1:
        assert out.decoder_passes.tolist() == counts


def test_the_sep_prone_models_end_rows_early_and_min_new_tokens_holds_them_back():
    """The fixture above does exercise early [SEP]: rows of different lengths, which min_new_tokens lengthens."""
    eos, early, held = 2, 0, 0
    for seed in range(4):
        model, ids, mask = sep_prone_model(seed, 3)
        free = greedy(model, ids, mask, max_new_tokens=12)
        counts = new_tokens(free, 0, eos)
        early += sum(c < 12 for c in counts)
        held_back = verify(model, ids, mask, 3, max_new_tokens=12, min_new_tokens=5).sequences
        assert torch.equal(held_back, greedy(model, ids, mask, max_new_tokens=12, min_new_tokens=5))
        assert all(c >= 5 for c in new_tokens(held_back, 0, eos))
        held += sum(a != b for a, b in zip(counts, new_tokens(held_back, 0, eos), strict=True))
    assert early >= 4 and held >= 2


@pytest.mark.parametrize("max_new_tokens", [1, 2, 3, 4, 7])
def test_verify_honours_max_new_tokens_and_max_length(max_new_tokens):
    model, ids, mask = sep_prone_model(2, 3)
    for length in ({"max_new_tokens": max_new_tokens}, {"max_length": max_new_tokens + 1}):
        expected = greedy(model, ids, mask, **length)
        for block_size in (1, 2, 3):
            assert torch.equal(verify(model, ids, mask, block_size, **length).sequences, expected), (
                length,
                block_size,
            )


def test_verify_stops_at_the_position_table_and_each_row_decodes_as_alone():
    model, ids, mask = sep_prone_model(3, 3)
    limit = model.config.max_position_embeddings
    expected = greedy(model, ids, mask, max_new_tokens=limit, min_new_tokens=limit)
    assert expected.shape[1] == limit + 1
    assert torch.equal(verify(model, ids, mask, 3, max_new_tokens=limit, min_new_tokens=limit).sequences, expected)
    batched = verify(model, ids, mask, 3, max_new_tokens=12).sequences
    for i in range(ids.shape[0]):
        alone = verify(model, ids[i : i + 1, mask[i].bool()], None, 3, max_new_tokens=12).sequences
        assert batched[i, : alone.shape[1]].tolist() == alone[0].tolist()
        assert all(t == model.config.pad_token_id for t in batched[i, alone.shape[1] :].tolist())


# ---------------------------------------------------------------------------------------------------------------
# High acceptance: a model overfit on a few pairs with the n-stream loss proposes what greedy decoding produces
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def overfit():
    """A tiny ngram=3 model trained on four pairs (the second target ends early) until its streams predict them; the
    third pair trains the AR stream only (`target_span_index` 0 hides it from streams 1 and 2), so that its
    proposals are untrained and its row accepts fewer tokens per pass than the others."""
    model = tiny_model(seed=0, ngram=3)
    ids, mask = sources(model.config, [8, 8, 8, 5], seed=0)
    generator = torch.Generator().manual_seed(1)
    labels = torch.randint(5, model.config.vocab_size, (4, 10), generator=generator)
    labels[:, -1] = model.config.eos_token_id
    labels[1, 5], labels[1, 6:] = model.config.eos_token_id, -100
    span_index = torch.arange(10).expand(4, 10).clone()
    span_index[2] = 0
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = model(
            input_ids=ids, attention_mask=mask, labels=labels, target_span_index=span_index, mode="ngram"
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert loss.item() < 0.05
    return model, ids, mask, labels


@pytest.fixture
def gathers(monkeypatch):
    """Records the calls of `kept_cache_slots` (the cache gather after rows accepted different counts)."""
    calls = []

    def spy(cached, agreed, slots):
        calls.append((cached.tolist(), agreed.tolist(), slots))
        return kept_cache_slots(cached, agreed, slots)

    monkeypatch.setattr(modeling, "kept_cache_slots", spy)
    return calls


def test_overfit_model_accepts_every_trained_proposal_and_stays_greedy(overfit):
    model, ids, mask, labels = overfit
    expected = greedy(model, ids, mask, max_new_tokens=12)
    for row in range(4):  # greedy decoding reproduces the training targets
        target = [t for t in labels[row].tolist() if t != -100]
        assert expected[row, 1 : 1 + len(target)].tolist() == target
    for block_size in (1, 2, 3):
        out = verify(model, ids, mask, block_size, max_new_tokens=12)
        assert torch.equal(out.sequences, expected), block_size
        # Rows 0, 1, 3 (10, 6, 10 tokens): one token in the first pass, then every proposal is accepted.
        for row, length in ((0, 10), (1, 6), (3, 10)):
            assert out.decoder_passes[row] == 1 + -(-(length - 1) // block_size), (block_size, row)
    assert float(out.tokens_per_pass[[0, 3]].min()) == 2.5


def test_rows_that_accept_different_counts_share_a_padded_cache(overfit, gathers):
    """Rows that accept different counts in one batch (forced past their [SEP]): the cache is gathered row by row
    and padded, and every row still decodes exactly as greedy AR decoding, and as alone."""
    model, ids, mask, _ = overfit
    settings = {"max_new_tokens": 20, "min_new_tokens": 20}
    expected = greedy(model, ids, mask, **settings)
    out = verify(model, ids, mask, 3, **settings)
    assert torch.equal(out.sequences, expected)
    assert any(len(set(agreed)) > 1 for _, agreed, _ in gathers), gathers  # rows accepted different counts
    assert any(min(cached) < slots for cached, _, slots in gathers), gathers  # and a later pass had padding slots
    for i in range(4):
        alone = verify(model, ids[i : i + 1, mask[i].bool()], None, 3, **settings)
        assert torch.equal(alone.sequences[0], expected[i])


@pytest.mark.parametrize("seed", [1, 2])
def test_batch_of_one_crops_rejected_proposals_without_gathering(seed, gathers):
    model = tiny_model(seed=seed, init_std=0.3, ngram=3)
    ids, mask = sources(model.config, [7], seed=9)
    out = verify(model, ids, mask, 3, max_new_tokens=20, min_new_tokens=20)
    assert torch.equal(out.sequences, greedy(model, ids, mask, max_new_tokens=20, min_new_tokens=20))
    # Some passes accepted several tokens, some rejected proposals (more passes than 1 + ceil(19 / 3) = 8).
    assert float(out.tokens_per_pass[0]) > 1.0 and int(out.decoder_passes[0]) > 8
    assert gathers == []


# ---------------------------------------------------------------------------------------------------------------
# The pass, the acceptance rule, the cache slots, the outputs and the errors
# ---------------------------------------------------------------------------------------------------------------


def test_every_anchored_block_equals_the_ngram_streams_on_each_prefix():
    """Stream s of the block anchored at main position i is the n-stream decoder's stream s at position i + s."""
    model = tiny_model(seed=1, init_std=0.3, ngram=3)
    ids, mask = sources(model.config, [9, 7, 5])
    prefix = greedy(model, ids, mask, max_new_tokens=8, min_new_tokens=8)  # (B, 9)
    with torch.no_grad():
        states = model.model.encoder(input_ids=ids, attention_mask=mask)[0]
        decoder = model.model.decoder
        first = decoder("ar", states, encoder_attention_mask=mask, input_ids=prefix[:, :3], use_cache=True)
        cache = first.cache  # main positions 0..2 cached; the block pass feeds 3..5
        blocks = decoder(
            "ar",
            states,
            encoder_attention_mask=mask,
            input_ids=prefix[:, 3:6],
            cache=cache,
            use_cache=True,
            num_proposals=3,
            proposal_anchors="every",
        )
        block_logits = model.lm_head(blocks.predict_hidden_state)  # (B, 3, 3, V)
        ngram = model(input_ids=ids, attention_mask=mask, decoder_input_ids=prefix, mode="ngram").predict_logits
    for s in range(3):
        for i in range(3):
            torch.testing.assert_close(block_logits[:, s, i], ngram[:, s, 3 + i + s], atol=1e-5, rtol=1e-5)


def test_verified_token_counts():
    eos = torch.tensor([2])
    proposals = torch.tensor([[5, 6, 7], [5, 6, 7], [5, 2, 7], [5, 6, 7], [9, 6, 7]])
    greedy = torch.tensor([[5, 6, 7, 8], [5, 9, 7, 8], [5, 2, 7, 8], [5, 6, 7, 8], [2, 6, 7, 8]])
    budget = torch.tensor([10, 10, 10, 2, 10])
    agreed, accepted, counts, ended = verified_token_counts(proposals, greedy, budget, eos)
    assert agreed.tolist() == [3, 1, 3, 1, 0]
    assert counts.tolist() == [4, 2, 2, 2, 1]  # [SEP] accepted ends the row after it; the budget cuts row 3
    assert ended.tolist() == [False, False, True, True, True]
    assert all(accepted[r, : counts[r]].tolist() == greedy[r, : counts[r]].tolist() for r in range(5))
    # "confidence": row 1's unverified q_2 = 6 is accepted when confident, then row 1 continues with g_2 = 7
    confident = torch.zeros(5, 3, dtype=torch.bool)
    confident[1, 1] = True
    agreed, accepted, counts, ended = verified_token_counts(proposals, greedy, budget, eos, confident)
    assert agreed.tolist() == [3, 3, 3, 1, 0] and counts[1] == 4 and accepted[1].tolist() == [5, 6, 7, 8]


def test_kept_cache_slots_are_left_aligned_per_row():
    # Row 0 had 3 real slots of 4 and keeps 2 new ones; row 1 had 4 and keeps 1; the pass appended slots 4..6.
    index = kept_cache_slots(torch.tensor([3, 4]), torch.tensor([1, 0]), slots=4)
    assert index.tolist() == [[0, 1, 2, 4, 5], [0, 1, 2, 3, 4]]
    index = kept_cache_slots(torch.tensor([1, 3]), torch.tensor([0, 0]), slots=3)
    assert index.tolist() == [[0, 3, 0, 0], [0, 1, 2, 3]]


def test_scores_are_the_greedy_streams_and_the_cache_is_not_returned():
    model, ids, mask = sep_prone_model(1, 3)
    out = verify(model, ids, mask, 3, max_new_tokens=10, output_scores=True, output_logits=True)
    reference = model.generate(
        ids, attention_mask=mask, max_new_tokens=10, return_dict_in_generate=True, output_scores=True
    )
    assert torch.equal(out.sequences, reference.sequences) and len(out.scores) == len(reference.scores)
    for step, (got, want) in enumerate(zip(out.scores, reference.scores, strict=True)):
        running = out.sequences[:, 1 : step + 1].ne(model.config.eos_token_id).all(-1)  # no [SEP] before step
        torch.testing.assert_close(got[running], want[running], atol=1e-4, rtol=1e-4)
        assert torch.equal(got[running].argmax(-1), out.sequences[running, step + 1])
    assert out.logits is not None and out.cache is None
    assert isinstance(out, modeling.BangGenerateOutput)


def test_plain_output_is_the_sequences_tensor_and_the_options_come_from_the_generation_config(tmp_path):
    model, ids, mask = sep_prone_model(0, 2)
    plain = model.generate(ids, attention_mask=mask, max_new_tokens=8, semi_nar_block_size=2, **VERIFY)
    assert isinstance(plain, torch.Tensor) and torch.equal(plain, greedy(model, ids, mask, max_new_tokens=8))
    model.generation_config.decoding_mode = "semi_nar"
    model.generation_config.semi_nar_acceptance = "verify"
    model.generation_config.semi_nar_block_size = 2
    model.save_pretrained(tmp_path)
    reloaded = modeling.BangForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.generation_config.semi_nar_acceptance == "verify"
    assert torch.equal(reloaded.generate(ids, attention_mask=mask, max_new_tokens=8), plain)


def test_a_block_larger_than_the_streams_is_refused_naming_both():
    model, ids, mask = sep_prone_model(0, 2)
    with pytest.raises(ValueError, match=r"`semi_nar_block_size` 3 is more than the model's 2 predicting streams"):
        verify(model, ids, mask, 3, max_new_tokens=6)


def test_verify_on_cuda_equals_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model, ids, mask = sep_prone_model(2, 3)
    expected = greedy(model, ids, mask, max_new_tokens=12, min_new_tokens=4)
    model = model.cuda()
    out = verify(model, ids.cuda(), mask.cuda(), 3, max_new_tokens=12, min_new_tokens=4)
    assert torch.equal(out.sequences.cpu(), expected)
    assert torch.equal(out.sequences, greedy(model, ids.cuda(), mask.cuda(), max_new_tokens=12, min_new_tokens=4))


def confidence(model, ids, mask, block_size: int, threshold: float, **settings):
    return model.generate(
        ids,
        attention_mask=mask,
        decoding_mode="semi_nar",
        semi_nar_acceptance="confidence",
        semi_nar_confidence=threshold,
        semi_nar_block_size=block_size,
        return_dict_in_generate=True,
        **settings,
    )


def generated_rows(sequences: torch.Tensor, eos: int) -> list[list[int]]:
    """Each row's new tokens up to and including its first [SEP] (the padding after it dropped)."""
    rows = []
    for row in sequences[:, 1:].tolist():
        rows.append(row[: row.index(eos) + 1] if eos in row else row)
    return rows


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_new_tokens", [None, 5])
def test_confidence_at_threshold_one_is_greedy_ar(seed, min_new_tokens):
    model, ids, mask = sep_prone_model(seed, 3)
    settings = {"max_new_tokens": 12, "min_new_tokens": min_new_tokens}
    out = confidence(model, ids, mask, 3, 1.0, **settings)
    assert torch.equal(out.sequences, greedy(model, ids, mask, **settings))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("ngram", "block_size"), [(2, 2), (3, 3), (3, 2)])
def test_confidence_at_threshold_zero_is_semi_nar_accepting_all(seed, ngram, block_size):
    """Threshold 0 accepts every proposal: the same streams propose the same tokens as semi_nar_acceptance="all",
    up to the last block that `max_new_tokens` cuts (there the last token is the AR stream's, a stream s > 0's in
    "all")."""
    model, ids, mask = sep_prone_model(seed, ngram)
    eos = model.config.eos_token_id
    out = confidence(model, ids, mask, block_size, 0.0, max_new_tokens=12)
    accept_all = model.generate(
        ids, attention_mask=mask, decoding_mode="semi_nar", semi_nar_block_size=block_size, max_new_tokens=12
    )
    same = 12 - block_size + 1
    dial, reference = generated_rows(out.sequences, eos), generated_rows(accept_all, eos)
    assert [row[:same] for row in dial] == [row[:same] for row in reference]
    assert [len(row) for row in dial] == [len(row) for row in reference]
    lengths = torch.tensor([len(r) for r in generated_rows(out.sequences, eos)], dtype=torch.float)
    # the first pass accepts 1 token (nothing is pending yet), every later pass up to k
    assert bool((out.decoder_passes <= 1 + torch.ceil((lengths - 1) / block_size)).all())


def test_accepting_unverified_proposals_takes_fewer_passes_than_verify():
    """Where proposals are wrong (a random model), verification rejects them; a threshold below their probability
    accepts them, so fewer passes decode the same number of tokens."""
    model, ids, mask = sep_prone_model(0, 3)
    lossless = verify(model, ids, mask, 3, max_new_tokens=12, min_new_tokens=12)
    dial = confidence(model, ids, mask, 3, 0.0, max_new_tokens=12, min_new_tokens=12)
    assert int(dial.decoder_passes.sum()) < int(lossless.decoder_passes.sum())
    assert float(dial.tokens_per_pass.mean()) > float(lossless.tokens_per_pass.mean())


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "high", True])
def test_a_confidence_threshold_outside_zero_one_is_refused(threshold):
    model, ids, mask = sep_prone_model(0, 2)
    with pytest.raises(ValueError, match="semi_nar_confidence"):
        confidence(model, ids, mask, 2, threshold, max_new_tokens=6)
