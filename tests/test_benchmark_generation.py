"""The generation benchmark (`bang_spmd.benchmarks.generation`, `bang-benchmark`) runs end to end on the tiny shape,
reports all."""

import sys

import pytest
import torch

from bang_spmd.benchmarks import generation

from .helpers import (
    assert_refused,
    check_machine_and_command,
    check_timings,
    load_example,
    run_benchmark,
    tiny_model,
    tiny_tokenizer,
)


NEW_TOKENS = 6  # not a multiple of the semi-NAR block size 4, as the default 30 is not


# Not named `benchmark`: the pytest-benchmark plugin owns that fixture name and fails on a fixture that shadows it.
@pytest.fixture(scope="module")
def script():
    return load_example("cli.benchmark")


def test_tiny_run_writes_every_method_and_ratio(script, tmp_path, capsys):
    argv = ["--shapes", "tiny", "--batch_sizes", "1", "2", "--warmup", "1", "--repeats", "1", "--device", "cpu"]
    argv += ["--source_length", "10", "--new_tokens", str(NEW_TOKENS), "--threads", "1", "--no_chart"]
    argv += ["--output_dir", str(tmp_path), "--no_progress"]
    results = run_benchmark(script, argv, tmp_path)
    check_machine_and_command(results, argv)

    methods = list(generation.METHODS)
    assert len(methods) == 10
    cells = {(m["shape"], m["batch_size"], m["method"]): m for m in results["measurements"]}
    assert set(cells) == {("tiny", batch, method) for batch in (1, 2) for method in methods}
    for (_, batch, method), m in cells.items():
        check_timings(m, 1, ("per_sample_ms", "samples_per_s", "tokens_per_s"), (batch, method))
        assert m["per_sample_ms"] == pytest.approx(m["median_ms"] / batch)
        assert m["length_ok"], (batch, method, m["output_shape"])
    # AR, semi-NAR and ProphetNet are forced to exactly NEW_TOKENS tokens after the decoder start token.
    forced = ("semi_nar_k2", "semi_nar_k4", "semi_nar_verify_k2", "semi_nar_verify_k4", "ar_greedy", "ar_beam4")
    for method in (*forced, "ar_assisted", "prophetnet_greedy"):
        assert cells["tiny", 2, method]["output_shape"] == [2, NEW_TOKENS + 1], method
    # The lossless rows report their acceptance: 1 to k tokens per pass; the others report none.
    for batch in (1, 2):
        for method, k in (("semi_nar_verify_k2", 2), ("semi_nar_verify_k4", 4)):
            m = cells["tiny", batch, method]
            assert 1.0 <= m["tokens_per_pass"] <= k and 1 <= m["decoder_passes"] <= NEW_TOKENS, (batch, method)
        assert cells["tiny", batch, "ar_greedy"]["tokens_per_pass"] is None
    assert cells["tiny", 2, "one_pass_floor"]["output_shape"][:2] == [2, NEW_TOKENS]

    ratio_keys = [ratio.key for ratio in generation.RATIOS]
    assert {"ar_beam4_over_nar", "nar_over_one_pass_floor", "ar_greedy_over_prophetnet_greedy"} <= set(ratio_keys)
    assert [(row["shape"], row["batch_size"]) for row in results["ratios"]] == [("tiny", 1), ("tiny", 2)]
    for row in results["ratios"]:
        for ratio in generation.RATIOS:
            expected = cells["tiny", row["batch_size"], ratio.numerator]["median_ms"]
            expected /= cells["tiny", row["batch_size"], ratio.denominator]["median_ms"]
            assert row[ratio.key] == pytest.approx(expected), ratio.key
        # The beam-4 speed-up target is for bang-base at batch 1 only; the other two apply everywhere.
        assert set(row["targets"]) == {"nar_over_one_pass_floor", "ar_greedy_over_prophetnet_greedy"}
        assert all(target["status"] in ("MET", "MISSED") for target in row["targets"].values())
    assert results["chart"] is None and not (tmp_path / "latency_per_sample.png").exists()

    printed = capsys.readouterr().out
    assert "ngram=1" in printed and "NAR / one-pass floor" in printed and "tok/pass" in printed
    assert all(method in printed for method in methods)


def test_subset_of_methods_leaves_missing_ratios_empty(script, tmp_path):
    argv = ["--shapes", "tiny", "--batch_sizes", "1", "--methods", "nar", "one_pass_floor", "--warmup", "0"]
    argv += ["--repeats", "1", "--device", "cpu", "--source_length", "6", "--new_tokens", "3", "--no_chart"]
    results = script.main([*argv, "--output_dir", str(tmp_path), "--no_progress"])
    assert [m["method"] for m in results["measurements"]] == ["nar", "one_pass_floor"]
    (row,) = results["ratios"]
    assert row["nar_over_one_pass_floor"] > 0 and row["ar_beam4_over_nar"] is None
    assert row["targets"]["ar_greedy_over_prophetnet_greedy"]["status"] == "NOT RUN"


def test_inputs_are_padded_and_end_with_sep(script):
    config = generation.SHAPES["tiny"]()
    inputs = generation.make_inputs(config, batch_size=8, source_length=12, seed=0, device="cpu")
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    assert ids.shape == mask.shape == (8, 12) and mask[0].all()
    lengths = mask.sum(1)
    assert lengths.min() >= 9 and lengths.max() == 12 and len(set(lengths.tolist())) > 1
    for row, length in zip(ids, lengths.tolist(), strict=True):
        assert row[length - 1] == config.eos_token_id
        assert (row[length:] == config.pad_token_id).all()
        assert (row[: length - 1] >= 4).all()  # ordinary ids only: no PAD, CLS, SEP or MASK


def test_prophetnet_peer_has_the_same_dimensions(script):
    config = generation.SHAPES["small"]()
    peer = generation.prophetnet_config(config)
    assert (peer.vocab_size, peer.hidden_size, peer.encoder_ffn_dim, peer.decoder_ffn_dim) == (30522, 256, 1024, 1024)
    assert (peer.num_encoder_layers, peer.num_decoder_layers) == (3, 3)
    assert (peer.num_encoder_attention_heads, peer.num_decoder_attention_heads) == (4, 4)
    assert peer.ngram == 1 and (peer.pad_token_id, peer.eos_token_id, peer.decoder_start_token_id) == (0, 102, 102)


@pytest.mark.parametrize(
    "argv",
    [["--methods", "ar_beam8"], ["--shapes", "huge"], ["--batch_sizes", "0"], ["--dtype", "int8"]],
)
def test_bad_flags_are_refused(script, argv, capsys):
    assert_refused(script, argv, capsys, f"error: argument {argv[0]}")


def test_lengths_beyond_the_position_table_are_refused(script, capsys):
    assert_refused(script, ["--shapes", "tiny", "--source_length", "65"], capsys, "at most 64")


CHART_ARGV = ["--shapes", "tiny", "--batch_sizes", "1", "--methods", "nar", "ar_greedy", "--warmup", "0"]
CHART_ARGV += ["--repeats", "1", "--device", "cpu", "--source_length", "6", "--new_tokens", "3", "--no_progress"]


def test_chart_is_drawn(script, tmp_path):
    pytest.importorskip("matplotlib")
    results = script.main([*CHART_ARGV, "--output_dir", str(tmp_path)])
    chart = tmp_path / "latency_per_sample.png"
    assert results["chart"] == str(chart) and chart.read_bytes().startswith(b"\x89PNG")


def test_missing_matplotlib_skips_the_chart(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    results = script.main([*CHART_ARGV, "--output_dir", str(tmp_path)])
    assert results["chart"] is None and (tmp_path / "results.json").exists()
    assert "matplotlib is not installed" in capsys.readouterr().out


def test_verify_and_assisted_rows_equal_greedy_on_the_same_inputs():
    """The lossless and assisted rows decode exactly what greedy AR decodes (the benchmark's own runs)."""
    config = generation.SHAPES["tiny"]()
    models = generation.build_models("tiny", {"bang", "assisted"}, "cpu", torch.float32, 0, streams=4)
    assert models["config"].ngram == 4 and models["assisted"][1].config.decoder_layers == 1
    inputs = generation.make_inputs(config, batch_size=3, source_length=8, seed=0, device="cpu")
    greedy = generation.METHODS["ar_greedy"].run(models["bang"], inputs, 5, True)
    for name in ("semi_nar_verify_k2", "semi_nar_verify_k4"):
        assert generation.METHODS[name].run(models["bang"], inputs, 5, True).sequences.equal(greedy), name
    assisted = generation.METHODS["ar_assisted"].run(models["assisted"], inputs, 5, True)
    assert assisted[:, : greedy.shape[1]].equal(greedy)


def test_a_saved_model_and_source_file_are_timed_with_free_lengths(script, tmp_path):
    folder = tmp_path / "model"
    tiny_model(init_std=0.3, ngram=2).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    (tmp_path / "sources.txt").write_text("5 6 7 8\n\n9 10 11\n")
    argv = ["--model", str(folder), "--source_file", str(tmp_path / "sources.txt"), "--free_length"]
    argv += ["--methods", "ar_greedy", "semi_nar_verify_k2", "ar_assisted", "--batch_sizes", "3", "--warmup", "0"]
    argv += ["--repeats", "1", "--device", "cpu", "--new_tokens", "6", "--no_chart", "--no_progress"]
    results = script.main([*argv, "--output_dir", str(tmp_path / "out")])
    cells = {m["method"]: m for m in results["measurements"]}
    assert {m["shape"] for m in cells.values()} == {generation.MODEL_SHAPE}
    assert all(m["length_ok"] and m["output_shape"][0] == 3 for m in cells.values())
    assert cells["semi_nar_verify_k2"]["tokens_per_pass"] >= 1.0
    assert results["ratios"][0]["ar_greedy_over_semi_nar_verify_k2"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source_file", "x.txt"], "--source_file needs --model"),
        (["--model", "/nonexistent"], "not a saved model folder"),
    ],
)
def test_model_flags_are_checked(script, argv, capsys, message):
    assert_refused(script, argv, capsys, message)


@pytest.mark.parametrize("method", ["semi_nar_verify_k4", "semi_nar_k4"])
def test_semi_nar_rows_beyond_the_models_streams_are_refused(script, tmp_path, capsys, method):
    tiny_model(ngram=2).save_pretrained(tmp_path)
    argv = ["--model", str(tmp_path), "--methods", method]
    assert_refused(script, argv, capsys, "ngram=2")
