"""Model cards: metadata, model-index numbers, results table, the usage snippet run in a fresh process, bad input."""

import re

import pytest
from huggingface_hub import ModelCard

from bang_spmd.model_cards import render_model_card, results_from_log_history, write_model_card

from .helpers import run_fresh_python, tiny_config, tiny_model, tiny_tokenizer


REPO_ID = "bang-user/bang-tiny-wndef-spmd"
DATASET = {"id": "bang-user/wndef", "name": "wndef", "split": "validation", "task": "Definition modeling"}
TRAINING = {"max_steps": 500, "train_file": "train-distilled.jsonl (8,000 pairs)", "mixing_strategy": "select"}
# What bang-evaluate prints (plus metric keys it may print later), one dict per decoding setting.
RESULTS = [
    {
        "model": "outputs/wndef-spmd",
        "data_file": "../shared/data/wndef/validation.jsonl",
        "samples": 1646,
        "decoding_mode": "nar",
        "max_new_tokens": 8,
        "rougeL_f1": 13.916308827752992,
        "ms_per_sample": 3.7998961427703925,
        "distinct_outputs": 260,
        "device": "cpu",
    },
    {
        "model": "outputs/wndef-spmd",
        "data_file": "../shared/data/wndef/validation.jsonl",
        "samples": 1646,
        "decoding_mode": "ar",
        "max_new_tokens": 8,
        "num_beams": 4,
        "length_penalty": 1.0,
        "rougeL_f1": 14.386637299153536,
        "rouge2_f1": 3.2501,
        "ms_per_sample": 29.660416962939244,
        "distinct_outputs": 103,
        "device": "cpu",
    },
    {
        "model": "outputs/wndef-spmd",
        "data_file": "../shared/data/wndef/validation.jsonl",
        "samples": 1646,
        "decoding_mode": "semi_nar",
        "max_new_tokens": 8,
        "semi_nar_block_size": 2,
        "rougeL_f1": 12.75,
        "bleu4": 1.4,
        "ms_per_sample": 17.5,
        "distinct_outputs": 140,
        "device": "cpu",
    },
]
EXPECTED_METRICS = {
    ("ROUGE-L F1 (NAR)", "rouge"): 13.916308827752992,
    ("ROUGE-L F1 (AR beam 4)", "rouge"): 14.386637299153536,
    ("ROUGE-2 F1 (AR beam 4)", "rouge"): 3.2501,
    ("ROUGE-L F1 (semi-NAR k=2)", "rouge"): 12.75,
    ("BLEU-4 (semi-NAR k=2)", "bleu"): 1.4,
}

# Runs the card's usage snippet in a fresh interpreter in which `import modeling_bang` fails.
SNIPPET_PRELUDE = 'import sys\nsys.modules["modeling_bang"] = None\n'


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny BANG (ngram=2, so semi-NAR decodes) saved with its tokenizer."""
    folder = tmp_path_factory.mktemp("bang-tiny")
    tiny_model(init_std=0.3).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def card_arguments(**overrides):
    arguments = {
        "model_type": "spmd",
        "results": RESULTS,
        "repo_id": REPO_ID,
        "dataset": DATASET,
        "training": TRAINING,
        "base_model": "bang-user/bang-tiny-pretrained",
        "example_inputs": ["5 6 7 8", "9 10 11"],
    }
    return {**arguments, **overrides}


def usage_snippet(card: ModelCard) -> str:
    blocks = re.findall(r"```python\n(.*?)```", card.text, flags=re.S)
    snippets = [b for b in blocks if "AutoModelForSeq2SeqLM.from_pretrained" in b]
    assert len(snippets) == 1, blocks
    return snippets[0]


def test_written_card_reloads_offline_with_the_metadata(model_dir, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        (folder / name).write_bytes((model_dir / name).read_bytes())
    path = write_model_card(folder, **card_arguments())
    assert path == folder / "README.md"
    metadata = ModelCard.load(path).data.to_dict()
    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == "text2text-generation"
    assert {"custom_code", "bang", "non-autoregressive", "spmd"} <= set(metadata["tags"])
    assert metadata["datasets"] == ["bang-user/wndef"]
    assert metadata["base_model"] == "bang-user/bang-tiny-pretrained"
    assert metadata["license"] == "mit" and metadata["language"] == "en"
    assert metadata["model-index"][0]["name"] == "bang-tiny-wndef-spmd"
    with pytest.raises(ValueError, match="README.md exists"):
        write_model_card(folder, **card_arguments())
    write_model_card(folder, overwrite=True, **card_arguments(model_type="nar"))
    assert "spmd" not in ModelCard.load(path).data.tags


def test_model_index_holds_exactly_the_numbers_passed(model_dir, tmp_path):
    render_model_card(model_dir, **card_arguments()).save(tmp_path / "README.md")
    eval_results = ModelCard.load(tmp_path / "README.md").data.eval_results
    assert {(e.metric_name, e.metric_type): e.metric_value for e in eval_results} == EXPECTED_METRICS
    assert len(eval_results) == len(EXPECTED_METRICS)
    for e in eval_results:
        assert (e.dataset_type, e.dataset_name, e.dataset_split) == ("bang-user/wndef", "wndef", "validation")
        assert (e.task_type, e.task_name) == ("text2text-generation", "Definition modeling")


def test_results_table_lists_this_model_and_the_baselines(model_dir):
    baselines = [{"model_label": "NAR, gold targets (BANG baseline)", "decoding_mode": "nar", "rougeL_f1": 14.82}]
    card = render_model_card(model_dir, **card_arguments(baselines=baselines))
    lines = [line for line in card.text.splitlines() if line.startswith("| ")]
    header = next(line for line in lines if line.startswith("| model | decoding |"))
    assert header.split(" | ")[2:5] == ["ROUGE-L F1", "ROUGE-2 F1", "BLEU-4"]
    assert "| this model | NAR | 13.92 | — | — | 8 | 1646 | 260 | 3.80 | cpu |" in lines
    assert "| this model | AR beam 4 | 14.39 | 3.25 | — | 8 | 1646 | 103 | 29.66 | cpu |" in lines
    assert "| this model | semi-NAR k=2 | 12.75 | — | 1.40 | 8 | 1646 | 140 | 17.50 | cpu |" in lines
    assert "| NAR, gold targets (BANG baseline) | NAR | 14.82 | — | — | — | — | — | — | — |" in lines
    assert 14.82 not in [e.metric_value for e in card.data.eval_results]  # baselines stay out of the model-index
    assert "| mixing_strategy | select |" in lines
    assert "| predicting streams (`ngram`) | 2 |" in lines
    assert "arXiv 2012.15525" in card.text and "arXiv 2205.11162" in card.text
    assert "@inproceedings{qi2021bang" in card.text and "@article{qi2022spmd" in card.text


def test_usage_snippet_runs_in_a_fresh_process(model_dir, tmp_path):
    snippet = usage_snippet(render_model_card(model_dir, **card_arguments()))
    assert 'decoding_mode="semi_nar", semi_nar_block_size=2' in snippet
    script = SNIPPET_PRELUDE + snippet.replace(REPO_ID, str(model_dir))
    result = run_fresh_python(script, cwd=tmp_path)
    assert "Do you wish to run the custom code" not in result.stdout + result.stderr  # no trust prompt
    printed = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(printed) == 3, result.stdout  # NAR, AR and semi-NAR outputs
    for line in printed:
        outputs = eval(line)  # a printed list of two strings
        assert isinstance(outputs, list) and len(outputs) == 2 and all(isinstance(o, str) for o in outputs)


def test_semi_nar_call_is_left_out_below_two_streams(tmp_path):
    tiny_config(ngram=1).save_pretrained(tmp_path)
    snippet = usage_snippet(render_model_card(tmp_path, **card_arguments(results=RESULTS[:2])))
    assert "semi_nar" not in snippet.replace("# semi-NAR", "")
    assert "# semi-NAR decoding needs config.ngram >= 2 predicting streams; this model has ngram=1." in snippet


def test_base_and_teacher_cards(model_dir):
    reason = "The converted checkpoint was not evaluated on this project's machines."
    base = render_model_card(
        model_dir,
        **card_arguments(model_type="base", results=[], missing_results_reason=reason, base_model=None),
    )
    assert reason in base.text and "## Pretraining" in base.text and base.data.eval_results is None
    assert "model-index" not in base.data.to_dict() and "spmd" not in base.data.tags
    teacher = render_model_card(model_dir, **card_arguments(model_type="teacher", tags=["wndef"]))
    assert "the AR teacher of SPMD" in teacher.text and {"autoregressive", "wndef"} <= set(teacher.data.tags)


def test_results_from_the_trainer_log_history():
    history = [
        {"loss": 3.0, "step": 1},
        {"eval_loss": 2.0, "eval_rougeL_f1": 10.5, "step": 2},
        {"eval_loss": 1.5, "eval_rougeL_f1": 11.25, "eval_bleu4": 2.0, "step": 4},
        {"eval_loss": 1.4, "step": 5},  # no metric: skipped
        {"train_runtime": 1.0, "step": 5},
    ]
    assert results_from_log_history(history, "nar") == [
        {"decoding_mode": "nar", "rougeL_f1": 11.25, "bleu4": 2.0, "step": 4}
    ]
    assert results_from_log_history(history[:1], "nar") == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_type": "student"}, "Unknown model_type 'student'"),
        ({"results": []}, "`results` is empty"),
        ({"results": [{"decoding_mode": "nar", "ms_per_sample": 3.0}]}, r"results\[0\] has no metric"),
        ({"results": [{"decoding_mode": "fast", "rougeL_f1": 1.0}]}, r"results\[0\] needs `decoding_mode`"),
        ({"results": [{"decoding_mode": "nar", "rougeL_f1": "high"}]}, r"results\[0\]\['rougeL_f1'\] must be"),
        ({"results": [RESULTS[0], dict(RESULTS[0])]}, r"results\[0\] and results\[1\] both report NAR"),
        ({"results": RESULTS[0]}, "`results` must be a list"),
        ({"baselines": [{"decoding_mode": "nar", "rougeL_f1": 1.0}]}, r"baselines\[0\] needs `model_label`"),
        ({"dataset": {"id": "x/y", "splt": "test"}}, r"unknown key\(s\) \['splt'\]"),
        ({"dataset": {"split": "test"}}, "`dataset` needs `id`"),
        ({"training": {}}, "`training` must be a non-empty dict"),
        ({"repo_id": "not a repo id"}, "`repo_id` 'not a repo id' is not a valid Hub repository id"),
        ({"example_inputs": "text"}, "`example_inputs` must be"),
    ],
)
def test_bad_input_is_refused_naming_the_problem(model_dir, overrides, message):
    with pytest.raises(ValueError, match=message):
        render_model_card(model_dir, **card_arguments(**overrides))


def test_a_folder_without_a_bang_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="config.json is missing"):
        render_model_card(tmp_path, **card_arguments())
