"""SPMD objectives: pace, self-paced weights, mix ratio, reference weights, token KL and the combined loss."""

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bang_spmd.trainers.spmd_objectives import (
    MIX_SCHEDULES,
    MIXING_STRATEGIES,
    PACE_SHAPES,
    WEIGHTING_SCHEMES,
    combine_sample_losses,
    mix_ratio_at,
    pace_fraction,
    prediction_overlap,
    reference_weights,
    select_by_overlap,
    self_paced_weights,
    token_kl_divergence,
)


SOFT_SCHEMES = ("linear", "logarithmic", "mixture")
fractions = st.floats(min_value=0.01, max_value=1.0)
loss_lists = st.lists(st.floats(min_value=0.0, max_value=50.0, width=32), min_size=1, max_size=16)
pace_args = {
    "max_steps": st.integers(min_value=1, max_value=300),
    "start_fraction": st.floats(min_value=0.01, max_value=1.0),
    "end_point": st.floats(min_value=0.05, max_value=1.0),
    "shape": st.sampled_from(PACE_SHAPES),
}


# Pace


@settings(deadline=None, max_examples=40)
@given(**pace_args)
def test_pace_fraction_starts_at_start_fraction_grows_and_ends_at_one(max_steps, start_fraction, end_point, shape):
    values = [pace_fraction(step, max_steps, start_fraction, end_point, shape) for step in range(max_steps + 2)]
    assert values[0] == pytest.approx(start_fraction, rel=1e-12)
    assert all(later >= earlier for earlier, later in zip(values[:-1], values[1:], strict=True))
    assert all(start_fraction <= value <= 1.0 for value in values)
    for step, value in enumerate(values):
        if step >= end_point * max_steps:
            assert value == 1.0


def test_pace_fraction_shapes():
    assert pace_fraction(50, 100, 0.2, 1.0, "linear") == pytest.approx(0.6)
    assert pace_fraction(25, 100, 0.2, 1.0, "root") == pytest.approx(0.2 + 0.8 * 0.5)
    assert pace_fraction(50, 100, 0.25, 1.0, "geometric") == pytest.approx(0.5)
    assert pace_fraction(25, 100, 0.2, 0.5, "linear") == pytest.approx(0.6)
    assert pace_fraction(60, 100, 0.2, 0.5, "geometric") == 1.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"shape": "cosine"}, "shape"),
        ({"start_fraction": 0.0}, "start_fraction"),
        ({"start_fraction": 1.5}, "start_fraction"),
        ({"end_point": 0.0}, "end_point"),
        ({"end_point": 1.1}, "end_point"),
        ({"max_steps": 0}, "max_steps"),
        ({"step": -1}, "step"),
    ],
)
def test_pace_fraction_rejects_bad_arguments(kwargs, name):
    arguments = {"step": 0, "max_steps": 10, "start_fraction": 0.3, "end_point": 0.8, "shape": "linear", **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        pace_fraction(**arguments)


# Self-paced weights


@settings(deadline=None, max_examples=50)
@given(values=loss_lists, fraction=fractions, scheme=st.sampled_from(WEIGHTING_SCHEMES))
# A subnormal threshold: low and zeta of the `mixture` formula underflowed to 0, 1 / loss overflowed (0 * inf = NaN).
@example(values=[0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.401298464324817e-45], fraction=0.25, scheme="mixture")
def test_self_paced_weights_bounded_monotone_and_easiest_sample_admitted(values, fraction, scheme):
    losses = torch.tensor(values)
    weights, threshold = self_paced_weights(losses, fraction, scheme)
    assert weights.shape == losses.shape and weights.dtype == losses.dtype
    assert torch.isfinite(weights).all()
    assert ((weights >= 0) & (weights <= 1)).all()
    order = losses.argsort()
    sorted_weights = weights[order]
    assert (sorted_weights[1:] <= sorted_weights[:-1]).all(), (losses[order], sorted_weights)
    assert (weights[losses == losses.min()] == 1).all()
    if threshold is not None:
        assert torch.isfinite(threshold)
        assert (weights[losses > threshold] == 0).all()


@settings(deadline=None, max_examples=40)
@given(values=loss_lists, scheme=st.sampled_from(WEIGHTING_SCHEMES))
def test_self_paced_weights_admit_everything_at_the_end_of_the_pace(values, scheme):
    losses = torch.tensor(values)
    fraction = pace_fraction(80, 100, 0.1, 0.8, "linear")
    assert fraction == 1.0
    weights, threshold = self_paced_weights(losses, fraction, scheme)
    assert threshold is None
    assert torch.equal(weights, torch.ones_like(losses))


@pytest.mark.parametrize("scheme", WEIGHTING_SCHEMES)
@pytest.mark.parametrize(
    "losses", [torch.zeros(5), torch.full((5,), 2.5), torch.tensor([0.0, 0.0, 0.0, 3.0]), torch.ones(1)]
)
@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_self_paced_weights_degenerate_batches(scheme, losses, fraction):
    weights, threshold = self_paced_weights(losses, fraction, scheme)
    assert torch.isfinite(weights).all()
    assert (weights[losses == losses.min()] == 1).all()
    if threshold is not None:
        assert torch.isfinite(threshold)


@settings(deadline=None, max_examples=40)
@given(
    # no subnormal values: float32 quantiles cannot separate 0 from 1e-45
    values=st.lists(
        st.floats(min_value=0.0, max_value=50.0, width=32, allow_subnormal=False), min_size=2, max_size=40, unique=True
    ),
    fraction=fractions,
)
def test_hard_weights_admit_about_fraction_of_distinct_losses(values, fraction):
    losses = torch.tensor(values)
    weights, _ = self_paced_weights(losses, fraction, "hard")
    assert set(weights.tolist()) <= {0.0, 1.0}
    admitted = weights.sum().item()
    assert fraction * len(values) - 1 <= admitted <= fraction * len(values) + 1


def test_soft_weights_follow_the_published_formulas():
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])  # median (lambda at fraction 0.5) = 3
    linear, threshold = self_paced_weights(losses, 0.5, "linear")
    assert threshold.item() == 3.0
    # max(0, 1 - x) rescaled by the lowest sample's weight 2/3: (lambda - loss) / (lambda - min).
    torch.testing.assert_close(linear, torch.tensor([1.0, 0.5, 0.0, 0.0, 0.0]))
    logarithmic, _ = self_paced_weights(losses, 0.5, "logarithmic", log_zeta=0.5)
    raw = torch.log(losses / 3 * 0.5 + 0.5).clamp(max=0) / math.log(0.5)
    torch.testing.assert_close(logarithmic, raw / raw[0])
    mixture, _ = self_paced_weights(losses, 0.5, "mixture", mixture_low=0.5)  # low = 1.5, zeta = 3
    torch.testing.assert_close(mixture, torch.tensor([1.0, 3 * (1 / 2 - 1 / 3), 0.0, 0.0, 0.0]))


def test_self_paced_weights_keep_dtype_device_and_detach():
    losses = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    weights, threshold = self_paced_weights(losses, 0.5, "linear")
    assert weights.dtype == torch.float64 and not weights.requires_grad
    assert threshold.dtype == torch.float64 and threshold.dim() == 0
    half, _ = self_paced_weights(torch.tensor([0.5, 1.0, 2.0], dtype=torch.bfloat16), 0.5, "mixture")
    assert half.dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("losses", "kwargs", "name"),
    [
        (torch.ones(3), {"scheme": "exponential"}, "scheme"),
        (torch.ones(3), {"fraction": 0.0}, "fraction"),
        (torch.ones(3), {"fraction": 1.5}, "fraction"),
        (torch.ones(3), {"mixture_low": 1.0}, "mixture_low"),
        (torch.ones(3), {"log_zeta": 0.0}, "log_zeta"),
        (torch.tensor([1.0, -0.1]), {}, "losses"),
        (torch.tensor([1.0, math.nan]), {}, "losses"),
        (torch.tensor([1.0, math.inf]), {}, "losses"),
        (torch.ones(2, 2), {}, "losses"),
    ],
)
def test_self_paced_weights_reject_bad_arguments(losses, kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        self_paced_weights(losses, **{"fraction": 0.5, "scheme": "hard", **kwargs})


# Mix ratio


def test_mix_ratio_at_schedules():
    assert mix_ratio_at(70, 100, 0.3, 0.9, "constant") == 0.3
    assert mix_ratio_at(0, 100, 0.2, 1.0, "linear") == pytest.approx(0.2)
    assert mix_ratio_at(50, 100, 0.2, 1.0, "linear") == pytest.approx(0.6)
    assert mix_ratio_at(150, 100, 0.2, 1.0, "linear") == pytest.approx(1.0)
    assert mix_ratio_at(150, 100, 1.0, 0.0, "linear") == 0.0
    assert set(MIX_SCHEDULES) == {"constant", "linear"}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"schedule": "cosine"}, "schedule"),
        ({"start": -0.1}, "start"),
        ({"end": 1.1}, "end"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_mix_ratio_at_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        mix_ratio_at(**{"step": 0, "max_steps": 10, "start": 0.5, "end": 0.5, "schedule": "linear", **kwargs})


# Reference weights


@st.composite
def reference_batches(draw):
    batch = draw(st.integers(min_value=1, max_value=6))
    num_references = draw(st.integers(min_value=1, max_value=4))
    seed = draw(st.integers(min_value=0, max_value=2**16))
    generator = torch.Generator().manual_seed(seed)
    losses = torch.randint(0, 4, (batch, num_references), generator=generator).float()  # small ints: ties happen
    mask = torch.rand(batch, num_references, generator=generator) < 0.6
    mask[:, 0] = True
    losses = losses.masked_fill(~mask, math.nan)  # masked entries are never read
    return losses, mask


@settings(deadline=None, max_examples=40)
@given(
    references=reference_batches(),
    strategy=st.sampled_from(MIXING_STRATEGIES),
    ratio=st.floats(min_value=0.0, max_value=1.0),
)
def test_reference_weights_are_distributions_over_available_references(references, strategy, ratio):
    losses, mask = references
    weights = reference_weights(losses, mask, strategy, ratio, torch.Generator().manual_seed(0))
    assert weights.shape == losses.shape
    assert torch.isfinite(weights).all() and (weights >= 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(losses.shape[0]))
    assert (weights[~mask] == 0).all()
    if strategy in ("select", "random_mix", "gold"):
        assert set(weights.unique().tolist()) <= {0.0, 1.0}


@settings(deadline=None, max_examples=40)
@given(references=reference_batches())
def test_select_picks_the_lowest_loss_available_reference(references):
    losses, mask = references
    weights = reference_weights(losses, mask, "select")
    available_losses = losses.masked_fill(~mask, math.inf)
    chosen = weights.argmax(dim=1)
    for row in range(losses.shape[0]):
        best = available_losses[row].min()
        assert available_losses[row, chosen[row]] == best
        assert chosen[row] == (available_losses[row] == best).nonzero()[0, 0]  # ties -> lowest index


@settings(deadline=None, max_examples=30)
@given(references=reference_batches())
def test_mix_ratio_zero_gives_gold_and_one_gives_distilled(references):
    losses, mask = references
    has_distilled = mask[:, 1:].any(dim=1)
    gold_only = reference_weights(losses, mask, "random_mix", 0.0, torch.Generator().manual_seed(1))
    assert (gold_only[:, 0] == 1).all()
    distilled_only = reference_weights(losses, mask, "random_mix", 1.0, torch.Generator().manual_seed(1))
    assert (distilled_only[has_distilled, 0] == 0).all()
    assert (distilled_only[~has_distilled, 0] == 1).all()
    distilled = reference_weights(losses, mask, "distilled")
    assert (distilled[has_distilled, 0] == 0).all() and (distilled[~has_distilled, 0] == 1).all()


def test_gold_distilled_and_average_strategies():
    losses = torch.zeros(2, 3)
    mask = torch.tensor([[True, True, True], [True, False, True]])
    torch.testing.assert_close(reference_weights(losses, mask, "gold"), torch.tensor([[1.0, 0, 0], [1, 0, 0]]))
    torch.testing.assert_close(reference_weights(losses, mask, "distilled"), torch.tensor([[0, 0.5, 0.5], [0, 0, 1]]))
    torch.testing.assert_close(
        reference_weights(losses, mask, "average"), torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.5, 0, 0.5]])
    )


def test_random_mix_is_reproducible_and_matches_the_ratio():
    batch, ratio = 4000, 0.3
    losses = torch.zeros(batch, 4)
    mask = torch.ones(batch, 4, dtype=torch.bool)
    mask[::2, 3] = False
    first = reference_weights(losses, mask, "random_mix", ratio, torch.Generator().manual_seed(7))
    second = reference_weights(losses, mask, "random_mix", ratio, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)
    distilled_share = first[:, 1:].sum().item() / batch
    assert abs(distilled_share - ratio) < 0.03
    # Uniform over the available distilled references: 3 in odd rows, 2 in even rows.
    odd_counts = first[1::2, 1:].sum(dim=0)
    assert (abs(odd_counts / odd_counts.sum() - 1 / 3) < 0.06).all()
    assert (first[::2, 3] == 0).all()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"strategy": "best"}, "strategy"),
        ({"distilled_ratio": 1.5}, "distilled_ratio"),
        ({"reference_mask": torch.tensor([[False, True], [True, True]])}, "reference_mask"),
        ({"reference_mask": torch.ones(2, 3, dtype=torch.bool)}, "reference_mask"),
        ({"per_reference_losses": torch.zeros(2)}, "per_reference_losses"),
    ],
)
def test_reference_weights_reject_bad_arguments(kwargs, name):
    arguments = {
        "per_reference_losses": torch.zeros(2, 2),
        "reference_mask": torch.ones(2, 2, dtype=torch.bool),
        "strategy": "average",
        **kwargs,
    }
    with pytest.raises(ValueError, match=f"`{name}"):
        reference_weights(**arguments)


# Token KL


def test_token_kl_is_zero_for_equal_logits_positive_otherwise_and_respects_the_mask():
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(3, 5, 11, generator=generator, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    same = token_kl_divergence(student, student, mask, temperature=2.0)
    assert same.shape == (3,)
    torch.testing.assert_close(same, torch.zeros(3), atol=1e-6, rtol=0)

    teacher = torch.randn(3, 5, 11, generator=generator)
    teacher[0, 3:] = math.nan  # masked positions are never read
    kl = token_kl_divergence(student, teacher, mask)
    assert (kl[:2] > 0).all() and kl[2] == 0
    expected = torch.nn.functional.kl_div(
        student[1].log_softmax(-1), teacher[1].log_softmax(-1), log_target=True, reduction="none"
    )
    torch.testing.assert_close(kl[1], expected.sum(-1).mean())

    kl.sum().backward()
    assert torch.isfinite(student.grad).all()
    assert (student.grad[0, 3:] == 0).all() and (student.grad[2] == 0).all()


def test_token_kl_rejects_bad_arguments():
    logits = torch.zeros(2, 3, 5)
    with pytest.raises(ValueError, match="`temperature`"):
        token_kl_divergence(logits, logits, torch.ones(2, 3, dtype=torch.bool), temperature=0.0)
    with pytest.raises(ValueError, match="`token_mask`"):
        token_kl_divergence(logits, logits, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="`teacher_logits`"):
        token_kl_divergence(logits, torch.zeros(2, 3, 6), torch.ones(2, 3, dtype=torch.bool))


# Combined loss


def test_combine_sample_losses_accumulates_like_one_large_batch():
    torch.manual_seed(0)
    vocab, hidden, length = 7, 5, 6
    model = torch.nn.Linear(hidden, vocab, dtype=torch.float64)
    features = torch.randn(4, length, hidden, dtype=torch.float64)
    targets = torch.randint(0, vocab, (4, length))
    token_mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3, [1] * 5 + [0], [1] * 2 + [0] * 4], dtype=torch.bool)
    weights = torch.tensor([1.0, 0.5, 0.0, 0.25], dtype=torch.float64)
    total_tokens = int(token_mask.sum())

    def loss_of(rows: slice, num_items_in_batch):
        logits = model(features[rows])  # (batch, T, V)
        token_losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets[rows], reduction="none")
        token_loss_sums = (token_losses * token_mask[rows]).sum(dim=1)
        return combine_sample_losses(token_loss_sums, weights[rows], num_items_in_batch, token_mask[rows].sum(1))

    full_loss = loss_of(slice(0, 4), None)  # token_counts.sum() is the total here
    full_grads = torch.autograd.grad(full_loss, list(model.parameters()))
    model.zero_grad()
    accumulated_loss = 0.0
    for rows in (slice(0, 2), slice(2, 4)):
        micro_loss = loss_of(rows, torch.tensor(total_tokens))
        micro_loss.backward()
        accumulated_loss += micro_loss.item()
    for full, parameter in zip(full_grads, model.parameters(), strict=True):
        torch.testing.assert_close(parameter.grad, full, atol=1e-6, rtol=1e-6)
    assert accumulated_loss == pytest.approx(full_loss.item(), abs=1e-9)
    assert loss_of(slice(0, 2), total_tokens).item() == pytest.approx(loss_of(slice(0, 2), None).item() * 9 / 16)


def test_combine_sample_losses_clamps_the_token_count():
    loss = combine_sample_losses(torch.zeros(2), torch.ones(2), None, torch.zeros(2, dtype=torch.long))
    assert loss.item() == 0.0
    with pytest.raises(ValueError, match="`sample_weights`"):
        combine_sample_losses(torch.zeros(2), torch.ones(3), 4, torch.ones(2))


# Prediction overlap and selection by it


EOS = 2


def test_prediction_overlap_is_ngram_f1_read_up_to_the_end_of_sequence():
    predictions = torch.tensor([[5, 6, 7, EOS, 9, 9]])
    references = torch.tensor(
        [[[5, 6, 7, EOS, -100, -100], [5, 7, EOS, -100, -100, -100], [8, 8, EOS, -100, -100, -100]]]
    )
    overlaps = prediction_overlap(predictions, references, torch.tensor([[True, True, False]]), EOS)
    # identical: 1; [5, 7]: unigram F1 2*2/(3+2) = 0.8, bigram 0 -> 0.4; unavailable: 0
    torch.testing.assert_close(overlaps, torch.tensor([[1.0, 0.4, 0.0]]))
    unigram = prediction_overlap(predictions, references, torch.ones(1, 3, dtype=torch.bool), EOS, max_order=1)
    torch.testing.assert_close(unigram, torch.tensor([[1.0, 0.8, 0.0]]))
    empty = prediction_overlap(
        torch.tensor([[EOS, 5]]), torch.tensor([[[EOS, -100]]]), torch.ones(1, 1, dtype=torch.bool), EOS
    )
    assert float(empty) == 1.0  # both empty
    with pytest.raises(ValueError, match="max_order"):
        prediction_overlap(predictions, references, torch.ones(1, 3, dtype=torch.bool), EOS, max_order=0)


def test_select_by_overlap_prefers_the_students_mode_and_breaks_ties_by_loss():
    overlaps = torch.tensor([[0.2, 0.9], [0.7, 0.1], [0.5, 0.5], [0.5, 0.5]])
    losses = torch.tensor([[1.0, 3.0], [4.0, 1.0], [2.0, 1.0], [1.0, 2.0]])
    mask = torch.ones(4, 2, dtype=torch.bool)
    weights = select_by_overlap(overlaps, losses, mask)
    assert weights.argmax(1).tolist() == [1, 0, 1, 0]  # highest overlap whatever the loss; ties: lower loss
    assert torch.equal(weights.sum(1), torch.ones(4))
    masked = select_by_overlap(overlaps, losses, torch.tensor([[True, False]] * 4))
    assert masked.argmax(1).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="gold"):
        select_by_overlap(overlaps, losses, torch.tensor([[False, True]] * 4))
