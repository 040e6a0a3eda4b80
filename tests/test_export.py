"""Export of the NAR decoder (`bang_spmd.deploy`): torch.export and ONNX graphs equal the eager model token for token,
`bang-export` writes and checks a servable folder, and the deployment benchmark runs."""

import json

import numpy as np
import pytest
import torch

from bang_spmd.cli import benchmark_deploy as benchmark
from bang_spmd.cli import export as cli
from bang_spmd.deploy import onnx_export

from .helpers import random_batch, tiny_model, tiny_tokenizer


pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

CANVAS, MAX_SOURCE = 9, 24


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A saved tiny model (weights large enough that its outputs depend on the input) exported by `bang-export`."""
    root = tmp_path_factory.mktemp("export")
    model = tiny_model(init_std=0.3)
    model.save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    argv = ["--model", str(root / "model"), "--output_dir", str(root / "onnx"), "--canvas_length", str(CANVAS),
            "--max_source_length", str(MAX_SOURCE), "--check"]  # fmt: skip
    summary = cli.main(argv)
    return model, root / "onnx", onnx_export.OnnxNarDecoder(root / "onnx"), summary


def test_bang_export_writes_a_servable_folder_and_checks_it(exported):
    model, folder, decoder, summary = exported
    assert summary["check"]["equal"] and summary["tokenizer"]
    assert [b["shape"] for b in summary["check"]["batches"]] == [[1, 5], [4, 11], [3, 9], [2, MAX_SOURCE]]
    assert {p.name for p in folder.iterdir()} >= {"bang_nar.onnx", "bang_nar_export.json", "tokenizer.json"}
    assert (summary["canvas_length"], summary["max_source_length"]) == (CANVAS, MAX_SOURCE)


def test_default_canvas_is_the_one_generate_uses():
    model = tiny_model()
    with pytest.raises(ValueError, match="need an output length"):
        onnx_export.default_canvas_length(model)
    model.generation_config.max_length = 8
    assert onnx_export.default_canvas_length(model) == 7
    model.generation_config.max_new_tokens = 6
    assert onnx_export.default_canvas_length(model) == 6


def test_onnx_graph_equals_eager_token_for_token(exported):
    model, folder, decoder, _ = exported
    input_ids, attention_mask, _ = random_batch(model.config, batch=5, source_len=13, seed=7)
    canvas = decoder.canvas(input_ids.numpy(), attention_mask.numpy())
    assert canvas.dtype == np.int64 and canvas.shape == (5, CANVAS)
    assert np.array_equal(canvas, model.nar_decode(input_ids, attention_mask, CANVAS).numpy())
    assert len({tuple(row) for row in canvas.tolist()}) > 1  # the outputs depend on the source
    expected = model.generate(input_ids, attention_mask=attention_mask, decoding_mode="nar", max_new_tokens=CANVAS)
    assert torch.equal(decoder.generate(input_ids.numpy(), attention_mask.numpy()), expected)
    # the default mask: the ids that are not [PAD]
    assert np.array_equal(decoder.canvas(input_ids.numpy()), canvas)


def test_onnx_graph_inputs_outputs_and_metadata(exported):
    model, folder, decoder, _ = exported
    session = decoder.session
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("input_ids", "tensor(int64)"),
        ("attention_mask", "tensor(int64)"),
    ]
    (output,) = session.get_outputs()
    assert output.name == "canvas" and output.shape[1] == CANVAS and isinstance(output.shape[0], str)
    metadata = onnx_export.NarExportMetadata.load(folder)
    assert (metadata.canvas_length, metadata.max_source_length, metadata.opset) == (CANVAS, MAX_SOURCE, 18)
    assert (metadata.eos_token_id, metadata.pad_token_id, metadata.cls_token_id) == (2, 0, 1)


def test_export_restores_the_attention_kernel_and_train_mode(tmp_path):
    model = tiny_model().train()
    graph = onnx_export.NarDecodeGraph(model, CANVAS)
    assert graph.canvas_length == CANVAS
    with pytest.raises(ValueError, match="canvas_length"):
        onnx_export.export_nar_onnx(model, tmp_path, canvas_length=100)
    assert model.training and model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize(
    ("input_ids", "message"),
    [
        (np.zeros((1, MAX_SOURCE + 1), dtype=np.int64) + 5, "at most 24"),
        (np.array([[5, 120, 2]]), r"lie in \[0, 99\)"),
        (np.array([[0, 0, 0]]), "at least one real token"),
        (np.zeros((0, 3), dtype=np.int64), "non-empty"),
    ],
)
def test_onnx_decoder_refuses_inputs_the_graph_does_not_check(exported, input_ids, message):
    with pytest.raises(ValueError, match=message):
        exported[2].canvas(input_ids)


def test_bang_export_refuses_an_incomplete_checkpoint(tmp_path):
    from safetensors.torch import load_file, save_file

    tiny_model().save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    save_file({k: v for k, v in state.items() if "layers.1.feed_forward" not in k}, tmp_path / "model.safetensors",
              metadata={"format": "pt"})  # fmt: skip
    with pytest.raises(ValueError, match=r"missing weights model.decoder.layers.1.feed_forward.fc1.bias, "):
        cli.main(["--model", str(tmp_path), "--output_dir", str(tmp_path / "export")])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "m", "--output_dir", "x", "--canvas_length", "0"], "--canvas_length: must be a positive"),
        (["--output_dir", "x"], "the following arguments are required: --model"),
    ],
)
def test_bang_export_refuses_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as error:
        cli.parse_args(argv)
    assert error.value.code == 2 and message in capsys.readouterr().err


def test_deployment_benchmark_measures_methods_side_by_side(tmp_path):
    """The benchmark's own bookkeeping on the fast methods (its `exported` method is `OnnxNarDecoder`, tested
    above; `compiled` runs inductor, too slow for the test suite)."""
    argv = ["--shape", "tiny", "--batch_sizes", "1", "3", "--methods", "generate", "eager",
            "--source_length", "12", "--canvas_length", "5", "--warmup", "0", "--repeats", "2", "--threads", "1",
            "--output_dir", str(tmp_path)]  # fmt: skip
    results = benchmark.main(argv)
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(results))
    assert [cell["batch_size"] for cell in results["batches"]] == [1, 3]
    for cell in results["batches"]:
        assert list(cell["methods"]) == ["generate", "eager"]
        for measured in cell["methods"].values():
            assert len(measured["seconds"]) == 2 and measured["median_ms"] > 0 and measured["equals_eager"]
        assert set(cell["ratios"]["generate_over"]) == {"eager"}
    table = (tmp_path / "results.md").read_text()
    assert "| eager |" in table and "x vs eager pass" in table
    assert results["command"].startswith("bang-benchmark-deploy --shape tiny")


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--methods", "cudagraphs"], "needs --device cuda"), (["--source_length", "600"], "at most 512")],
)
def test_deployment_benchmark_refuses_bad_settings(tmp_path, argv, message, capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--output_dir", str(tmp_path), *argv])
    assert message in capsys.readouterr().err
