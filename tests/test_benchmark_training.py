"""The training benchmark (`bang_spmd.benchmarks.training`, `bang-benchmark-training`) runs end to end on the tiny
shape and reports it all."""

import pytest

from bang_spmd.benchmarks import training

from .helpers import assert_refused, check_machine_and_command, check_timings, load_example, run_benchmark


BATCH = 4


# Not named `benchmark`: the pytest-benchmark plugin owns that fixture name and fails on a fixture that shadows it.
@pytest.fixture(scope="module")
def script():
    return load_example("cli.benchmark_training")


def test_tiny_run_writes_every_method_ratio_and_check(script, tmp_path, capsys):
    argv = ["--shapes", "tiny", "--batch_size", str(BATCH), "--warmup", "1", "--repeats", "1", "--device", "cpu"]
    argv += ["--source_length", "10", "--target_length", "6", "--threads", "1", "--output_dir", str(tmp_path)]
    results = run_benchmark(script, argv, tmp_path)
    check_machine_and_command(results, argv)
    assert "load_average_before" in results["machine"] and "load_average_after" in results["machine"]

    methods = ["plain_nar", "spmd", "spmd_random_mix", "prophetnet"]
    assert list(training.METHODS) == methods
    cells = {m["method"]: m for m in results["measurements"]}
    assert list(cells) == methods and all(m["shape"] == "tiny" for m in cells.values())
    tokens = cells["plain_nar"]["gold_target_tokens"]
    assert BATCH < tokens <= BATCH * 6
    for method, m in cells.items():
        check_timings(m, 1, ("tokens_per_s", "samples_per_s", "parameters"), method)
        assert m["gold_target_tokens"] == tokens
        assert m["tokens_per_s"] == pytest.approx(tokens / (m["median_ms"] / 1000))
        assert m["last_loss"] == m["last_loss"] and m["last_loss"] > 0, method  # finite (not NaN) and positive
        # One encoder pass per step over the batch's sources, whatever the method.
        assert m["encoder_calls_per_step"] == 1 and m["encoder_rows_per_step"] == BATCH, method
    # One decoder row per example, whatever the method: `select` scores both references on one NAR prediction.
    for method in ("plain_nar", "spmd", "spmd_random_mix", "prophetnet"):
        assert cells[method]["decoder_rows_per_step"] == BATCH, method

    (row,) = results["ratios"]
    assert row["shape"] == "tiny"
    for ratio in training.RATIOS:
        expected = cells[ratio.numerator]["median_ms"] / cells[ratio.denominator]["median_ms"]
        assert row[ratio.key] == pytest.approx(expected), ratio.key
    assert {"spmd_over_plain_nar", "plain_nar_over_prophetnet", "spmd_random_mix_over_plain_nar"} <= set(row)
    assert set(row["targets"]) == {"spmd_over_plain_nar", "plain_nar_over_prophetnet", "encoder_calls_per_spmd_step"}
    assert all(target["status"] in ("MET", "MISSED") for target in row["targets"].values())
    assert row["encoder_calls_per_spmd_step"] == {"spmd": 1, "spmd_random_mix": 1}
    assert row["targets"]["encoder_calls_per_spmd_step"]["status"] == "MET"

    printed = capsys.readouterr().out
    assert all(method in printed for method in methods)
    assert "encoder calls per SPMD step: spmd 1, spmd_random_mix 1" in printed and "other processes" in printed


def test_subset_of_methods_leaves_missing_ratios_empty(script, tmp_path):
    argv = ["--shapes", "tiny", "--methods", "plain_nar", "spmd", "--batch_size", "2", "--warmup", "0"]
    argv += ["--repeats", "1", "--device", "cpu", "--source_length", "6", "--target_length", "3"]
    results = script.main([*argv, "--output_dir", str(tmp_path)])
    assert [m["method"] for m in results["measurements"]] == ["plain_nar", "spmd"]
    (row,) = results["ratios"]
    assert row["spmd_over_plain_nar"] > 0 and row["plain_nar_over_prophetnet"] is None
    assert row["targets"]["plain_nar_over_prophetnet"]["status"] == "NOT RUN"
    assert row["encoder_calls_per_spmd_step"] == {"spmd": 1}


def test_batch_is_padded_and_distilled_targets_share_the_canvas(script):
    config = training.SHAPES["tiny"]()
    batch = training.make_batch(config, batch_size=8, source_length=12, target_length=8, seed=0, device="cpu")
    ids, mask, gold, distilled = (batch[k] for k in ("input_ids", "attention_mask", "labels", "distilled_labels"))
    assert ids.shape == mask.shape == (8, 12) and mask[0].all()
    assert gold.shape == (8, 8) and distilled.shape == (8, 1, 8)
    source_lengths = mask.sum(1)
    assert source_lengths.min() >= 9 and len(set(source_lengths.tolist())) > 1
    for targets in (gold, distilled[:, 0]):
        lengths = targets.ne(-100).sum(1)
        assert lengths[0] == 8 and lengths.min() >= 6 and len(set(lengths.tolist())) > 1
        for row, length in zip(targets, lengths.tolist(), strict=True):
            assert row[length - 1] == config.eos_token_id and (row[: length - 1] >= 4).all()
    assert not (gold == distilled[:, 0]).all()


def test_prophetnet_peer_has_the_same_dimensions(script):
    config = training.SHAPES["small"]()
    peer = training.prophetnet_config(config)
    assert (peer.vocab_size, peer.hidden_size, peer.encoder_ffn_dim, peer.decoder_ffn_dim) == (8000, 256, 1024, 1024)
    assert (peer.num_encoder_layers, peer.num_decoder_layers) == (3, 3)
    assert (peer.num_encoder_attention_heads, peer.num_decoder_attention_heads) == (4, 4)
    assert peer.ngram == 1 and peer.eps == config.label_smoothing == 0.1
    assert (peer.dropout, peer.attention_dropout, peer.activation_dropout) == (0.1, 0.1, 0.1)


@pytest.mark.parametrize(
    "argv",
    [["--methods", "spmd_average"], ["--shapes", "huge"], ["--batch_size", "0"], ["--device", "tpu"]],
)
def test_bad_flags_are_refused(script, argv, capsys):
    assert_refused(script, argv, capsys, f"error: argument {argv[0]}")


def test_lengths_beyond_the_position_table_are_refused(script, capsys):
    assert_refused(script, ["--shapes", "tiny", "--target_length", "65"], capsys, "at most 64")
    assert_refused(script, ["--target_length", "1"], capsys, "--target_length must be at least 2")
