"""Length-bucketed training batches in random order (`bang_spmd.trainers.batching`) and their use by BANG's trainers
(`train_sampling_strategy="length_buckets"`, `bang_spmd.trainers.recipe`)."""

import random
import statistics

import pytest
import torch

from bang_spmd.trainers.batching import LengthBucketSampler, length_bucket_order


def lengths(count: int, seed: int = 0) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    sources = [rng.randint(3, 40) for _ in range(count)]
    return sources, [max(2, s + rng.randint(-5, 8)) for s in sources]


def batches_of(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def padded_tokens(batches: list[list[int]], sources: list[int], targets: list[int]) -> int:
    return sum(len(b) * (max(sources[i] for i in b) + max(targets[i] for i in b)) for b in batches)


def test_order_is_a_permutation_of_batches_with_little_padding():
    sources, targets = lengths(5000)
    order = length_bucket_order(sources, targets, 16, torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(5000))
    shuffled = list(range(5000))
    random.Random(0).shuffle(shuffled)
    real = sum(sources) + sum(targets)
    # Sorted by source length, then target length, a batch pads little (11 % here); a random batch of these
    # lengths pads to its longest source and target (81 %).
    assert padded_tokens(batches_of(order, 16), sources, targets) < 1.15 * real
    assert padded_tokens(batches_of(shuffled, 16), sources, targets) > 1.6 * real


def test_batch_order_is_random_not_sorted_by_length():
    sources, targets = lengths(2000)
    order = length_bucket_order(sources, targets, 20, torch.Generator().manual_seed(1))
    means = [statistics.mean(sources[i] for i in b) for b in batches_of(order, 20)]
    rising = sum(a < b for a, b in zip(means, means[1:], strict=False))
    # transformers' group_by_length would give long runs of decreasing lengths; here the order is shuffled.
    assert 0.3 < rising / (len(means) - 1) < 0.7


def test_windows_bound_the_sort():
    sources, targets = lengths(600)
    order = length_bucket_order(sources, targets, 10, torch.Generator().manual_seed(2), window=3)
    first_window = set(torch.randperm(600, generator=torch.Generator().manual_seed(2)).tolist()[:30])
    batch = next(b for b in batches_of(order, 10) if b[0] in first_window)
    assert set(batch) <= first_window  # a batch never mixes examples of two windows


def test_sampler_depends_only_on_seed_and_epoch():
    sources, targets = lengths(300)
    sampler = LengthBucketSampler(sources, targets, 8, seed=5)
    first = list(sampler)
    assert list(LengthBucketSampler(sources, targets, 8, seed=5)) == first and len(sampler) == 300
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(LengthBucketSampler(sources, targets, 8, seed=6)) != first


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"window": 0}])
def test_bad_sizes_are_refused(bad):
    sources, targets = lengths(10)
    kwargs = {"batch_size": 4, "window": 2, **bad}
    with pytest.raises(ValueError, match="must be at least 1"):
        length_bucket_order(sources, targets, generator=torch.Generator(), **kwargs)
    with pytest.raises(ValueError, match="differ in length"):
        length_bucket_order(sources, targets[:-1], 4, torch.Generator())
