"""`bang-benchmark-peer` (BANG against fairseq's Transformer) with a stand-in for the fairseq virtual environment: the
log parsing, the batching rule, the BANG side and the results record (the real peer runs outside CI)."""

import json
import stat

import pytest

from bang_spmd.benchmarks import peer
from bang_spmd.cli import benchmark_peer

from .helpers import save_tiny_pretrained, translation_rows


FAKE_LOG = "\n".join(
    f"2026-12-01 | INFO | train_inner | epoch 001:     {50 * i} / 268 loss=7.9, ups={rate}, wpb=877, bsz=64"
    for i, rate in enumerate((3.1, 8.0, 8.4), 1)
)


def test_fairseq_interval_rates_reads_every_interval_and_refuses_a_log_without_them():
    assert peer.fairseq_interval_rates(FAKE_LOG) == [3.1, 8.0, 8.4]
    with pytest.raises(RuntimeError, match="updates/s"):
        peer.fairseq_interval_rates("| INFO | fairseq_cli.train | no rates here")


def test_bang_batches_are_the_recipes_and_cover_every_example_once():
    pairs_ids = [([5] * (i % 37 + 1), [6] * (i % 11 + 1)) for i in range(500)]
    batches = peer.recipe_batches(pairs_ids, batch_size=16, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(len(b) <= 16 for b in batches) and batches == peer.recipe_batches(pairs_ids, 16, 0)
    spread = [max(len(pairs_ids[i][0]) for i in b) - min(len(pairs_ids[i][0]) for i in b) for b in batches]
    assert sum(spread) / len(spread) < 8  # sorted by length: far below the 36 of random batches


def test_the_benchmark_records_fairseq_and_every_bang_flow_with_their_ratios(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in translation_rows(40)))
    model = save_tiny_pretrained(tmp_path / "tiny", [r[c] for r in translation_rows(40) for c in ("en", "fr")])
    fake = tmp_path / "fake-fairseq-python"  # `python -m fairseq_cli.preprocess|train ...`
    fake.write_text(f"#!/bin/sh\nif [ \"$2\" = fairseq_cli.train ]; then cat <<'LOG'\n{FAKE_LOG}\nLOG\nfi\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    argv = ["--data_file", str(data), "--where", "kind=synopsis", "--tokenizer", str(model), "--fairseq_python",
            str(fake), "--updates", "101", "--warmup", "1", "--rounds", "1", "--batch_size", "8", "--threads", "1",
            "--hidden_size", "16", "--layers", "1", "--heads", "2", "--ffn_dim", "32",
            "--output_dir", str(tmp_path / "out")]  # fmt: skip
    results = benchmark_peer.main(argv)
    assert json.loads(json.dumps(results)) == json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["pairs"] == 40  # the synopses only
    assert results["rounds"][0]["fairseq"]["steps_per_second"] == pytest.approx(8.2)  # intervals after the first
    for method in peer.BANG_METHODS:
        rate = results["median_steps_per_second"][method]
        assert rate > 0 and results["ratios"][f"fairseq_over_{method}"] == pytest.approx(8.2 / rate)
    assert results["command"].startswith("bang-benchmark-peer --data_file")
    with pytest.raises(SystemExit):
        benchmark_peer.main([*argv[:-2], "--updates", "50", "--output_dir", str(tmp_path / "o")])
