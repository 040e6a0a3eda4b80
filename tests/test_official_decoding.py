"""The programs decode as the official code does: repeated words are collapsed in NAR output only (AR output is never
deduplicated), NAR output keeps `[UNK]` (`--drop_unk` drops it), and AR beam search stops once `num_beams`
hypotheses are finished (`early_stopping=True`, fairseq's rule) in bang-evaluate, bang-generate and bang-distill."""

import json

import pytest
import torch

from bang_spmd.cli import evaluate as evaluate_program
from bang_spmd.cli import generate as generate_program
from bang_spmd.evaluation import split_evaluation
from bang_spmd.evaluation.decoding import decode_outputs, generate_batches, generation_settings
from bang_spmd.evaluation.split_evaluation import Decoding
from bang_spmd.trainers import DistillationConfig, distill_dataset
from modeling_bang import BangForConditionalGeneration
from modeling_bang.convert_bang_original_checkpoint import official_generation_config

from .helpers import tiny_config, tiny_model, tiny_tokenizer
from .test_distillation import tiny_rows


SEP, UNK = 2, 3


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("official_decoding")
    tiny_model(init_std=0.3).save_pretrained(folder / "model")
    tiny_tokenizer().save_pretrained(folder / "model")
    (folder / "data.jsonl").write_text(json.dumps({"word": "10", "example": "11", "definition": "12 13"}) + "\n")
    return folder


def test_nar_output_keeps_unk_unless_asked():
    tokenizer = tiny_tokenizer()
    sequences = torch.tensor([[SEP, 10, UNK, 11, SEP, 0]])
    assert decode_outputs(tokenizer, sequences, keep_unk=True) == ["10 [UNK] 11"]
    assert decode_outputs(tokenizer, sequences) == ["10 11"]


class FixedOutput(torch.nn.Module):
    """A stand-in for a model whose `generate` returns the given ids for every source."""

    device = torch.device("cpu")

    def __init__(self, ids):
        super().__init__()
        self.ids, self.calls = ids, []
        self.config = tiny_config()
        self.generation_config = type("GenerationConfig", (), {"nar_collapse_repeats": True})()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def generate(self, input_ids, **settings):
        self.calls.append(settings)
        return torch.tensor([self.ids] * input_ids.shape[0])


@pytest.mark.parametrize("drop_unk, expected", [(False, ["10 [UNK] 11"]), (True, ["10 11"])])
def test_generate_batches_keep_unk_in_nar_output(drop_unk, expected):
    model, tokenizer = FixedOutput([SEP, 10, UNK, 11, SEP]), tiny_tokenizer()
    settings = {"decoding_mode": "nar", "max_new_tokens": 4}
    texts, _ = next(generate_batches(model, tokenizer, [[10, SEP]], settings, 1, drop_unk=drop_unk))
    assert texts == expected
    ar_texts, _ = next(generate_batches(model, tokenizer, [[10, SEP]], {**settings, "decoding_mode": "ar"}, 1))
    assert ar_texts == ["10 11"]  # AR output: transformers' decoding, unchanged


@pytest.mark.parametrize("mode, expected", [("ar", "10 10 11 11"), ("semi_nar", "10 10 11 11"), ("nar", "10 11")])
def test_bang_evaluate_collapses_repeated_words_in_nar_output_only(saved, tmp_path, monkeypatch, mode, expected):
    model = FixedOutput([SEP, 10, 10, 11, 11, SEP])

    def fake_batches(model_, tokenizer, ids, settings, batch_size, drop_unk=False):
        yield decode_outputs(tokenizer, model.generate(torch.tensor(ids), **settings)), 0.01

    monkeypatch.setattr(split_evaluation, "generate_batches", fake_batches)
    argv = ["--model", str(saved / "model"), "--data_file", str(saved / "data.jsonl"), "--device", "cpu"]
    argv += ["--decoding_mode", mode, "--output_file", str(tmp_path / "out.jsonl")]
    evaluate_program.main(argv)
    assert json.loads((tmp_path / "out.jsonl").read_text())["prediction"] == expected


def test_ar_beam_search_stops_at_num_beams_finished_hypotheses(saved, monkeypatch):
    assert Decoding(decoding_mode="ar", num_beams=4).generate_kwargs()["early_stopping"] is True
    assert "early_stopping" not in Decoding(decoding_mode="ar", num_beams=1).generate_kwargs()
    assert "early_stopping" not in Decoding(decoding_mode="nar").generate_kwargs()
    config = tiny_model().generation_config
    assert generation_settings(config, "ar", 8, num_beams=4)["early_stopping"] is True
    assert "early_stopping" not in generation_settings(config, "nar", 8)
    assert official_generation_config(tiny_config()).early_stopping is True  # converted checkpoints

    calls = []
    original = BangForConditionalGeneration.generate

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BangForConditionalGeneration, "generate", spy)
    argv = ["--model", str(saved / "model"), "--text", "10 11", "--decoding_mode", "ar", "--num_beams", "3"]
    generate_program.main([*argv, "--max_new_tokens", "4"])
    assert calls[-1]["early_stopping"] is True and calls[-1]["num_beams"] == 3
    distill_dataset(
        tiny_rows(2),
        tiny_model(init_std=0.3),
        tiny_tokenizer(),
        DistillationConfig(["word", "example"], "definition", num_beams=3, max_new_tokens=4),
        saved / "cache",
        show_progress=False,
    )
    assert calls[-1]["early_stopping"] is True and calls[-1]["num_beams"] == 3
