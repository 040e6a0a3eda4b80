"""`examples/custom_generate_nar`: BANG's one-pass NAR decoding as a transformers `custom_generate` folder.

`model.generate(..., custom_generate=<folder>, trust_remote_code=True)` copies `custom_generate/generate.py` into
transformers' dynamic-module cache (`HF_MODULES_CACHE`, read once when transformers is imported) and runs it. So the
tests of that loading path run in one fresh interpreter whose `HF_MODULES_CACHE` is a temporary folder, offline; the
tests of the function's own arguments import `generate.py` directly.
"""

import importlib.util
import inspect

import pytest
import torch
from transformers.dynamic_module_utils import check_python_requirements

from .helpers import REPO_ROOT, random_batch, run_fresh_python, tiny_model


FOLDER = REPO_ROOT / "examples" / "custom_generate_nar"
MAX_NEW_TOKENS = 7

# Runs in a fresh interpreter, argv = model folder, custom_generate folder, max_new_tokens. First, with the package
# made unimportable, loads the saved tiny model as remote code; then, with the package, loads it as the package's
# class. Each decodes the saved batch through the custom_generate folder and with BANG's own NAR generate; the
# outputs and the error messages are saved next to the model.
LOADER_SCRIPT = r"""
import sys
sys.modules["modeling_bang"] = None  # make the package unimportable, whatever is installed
import torch
from transformers import AutoModelForSeq2SeqLM, BartConfig, BartForConditionalGeneration

folder, CUSTOM, MAX_NEW_TOKENS = sys.argv[1], sys.argv[2], int(sys.argv[3])
batch = torch.load(folder + "/batch.pt", weights_only=True)
ids, mask = batch["input_ids"], batch["attention_mask"]
custom = {"custom_generate": CUSTOM, "trust_remote_code": True, "max_new_tokens": MAX_NEW_TOKENS}


def error_of(call):
    try:
        call()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


def decode(model):
    return {
        "module": type(model).__module__,
        "custom": model.generate(ids, attention_mask=mask, **custom),
        "custom_keyword_source": model.generate(input_ids=ids, attention_mask=mask, **custom),
        "custom_no_collapse": model.generate(ids, attention_mask=mask, collapse_repeats=False, **custom),
        "nar": model.generate(ids, attention_mask=mask, decoding_mode="nar", max_new_tokens=MAX_NEW_TOKENS),
        "nar_no_collapse": model.generate(
            ids, attention_mask=mask, decoding_mode="nar", max_new_tokens=MAX_NEW_TOKENS, nar_collapse_repeats=False
        ),
    }


results = {"remote": decode(AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval())}
del sys.modules["modeling_bang"]
import modeling_bang  # noqa: E402

model = modeling_bang.BangForConditionalGeneration.from_pretrained(folder).eval()
results["package"] = decode(model)
bart = BartForConditionalGeneration(
    BartConfig(
        vocab_size=99, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=8, decoder_ffn_dim=8, max_position_embeddings=64,
    )
).eval()
results["errors"] = {
    "num_beams": error_of(lambda: model.generate(ids, attention_mask=mask, num_beams=4, **custom)),
    "do_sample": error_of(lambda: model.generate(ids, attention_mask=mask, do_sample=True, **custom)),
    "bart": error_of(lambda: bart.generate(ids, attention_mask=mask, **custom)),
    "untrusted": error_of(
        lambda: model.generate(ids, attention_mask=mask, custom_generate=CUSTOM, max_new_tokens=MAX_NEW_TOKENS)
    ),
}
torch.save(results, folder + "/results.pt")
"""


def lively_model():
    """A tiny model with weights large enough that its generations depend on the input."""
    return tiny_model(init_std=0.3)


def padded_batch(model) -> tuple[torch.Tensor, torch.Tensor]:
    input_ids, attention_mask, _ = random_batch(model.config, batch=3)  # the last row is padded
    return input_ids, attention_mask


@pytest.fixture(scope="module")
def loader_run(tmp_path_factory) -> dict:
    """Saves a lively tiny model and a padded batch, runs LOADER_SCRIPT with a temporary HF_MODULES_CACHE; returns
    its results with the NAR outputs of the in-process model (`expected`, `expected_no_collapse`) and that cache."""
    tmp_path = tmp_path_factory.mktemp("custom_generate")
    model = lively_model()
    input_ids, attention_mask = padded_batch(model)
    model_dir, modules = tmp_path / "model", tmp_path / "modules"
    model.generation_config.decoding_mode = "nar"  # as a published NAR model: custom_generate must still take over
    model.save_pretrained(model_dir)
    torch.save({"input_ids": input_ids, "attention_mask": attention_mask}, model_dir / "batch.pt")
    run_fresh_python(
        LOADER_SCRIPT,
        str(model_dir),
        str(FOLDER),
        str(MAX_NEW_TOKENS),
        cwd=tmp_path,
        env={"HF_MODULES_CACHE": str(modules)},
        timeout=300,
    )
    results = torch.load(model_dir / "results.pt", weights_only=True)
    for name, collapse in (("expected", True), ("expected_no_collapse", False)):
        results[name] = model.generate(
            input_ids,
            attention_mask=attention_mask,
            decoding_mode="nar",
            max_new_tokens=MAX_NEW_TOKENS,
            nar_collapse_repeats=collapse,
        )
    results["modules_cache"] = modules
    return results


def check_matches_nar_generate(results: dict, scenario: str) -> None:
    assert not torch.equal(results["expected"], results["expected_no_collapse"])  # the batch has repeats
    decoded = results[scenario]
    assert decoded["custom"].shape[0] == 3 and not torch.equal(decoded["custom"][0], decoded["custom"][2])
    for key in ("custom", "custom_keyword_source", "nar"):
        assert torch.equal(decoded[key], results["expected"]), key
    for key in ("custom_no_collapse", "nar_no_collapse"):
        assert torch.equal(decoded[key], results["expected_no_collapse"]), key


def test_folder_is_shaped_like_a_custom_generate_hub_repo():
    card = (FOLDER / "README.md").read_text()
    assert card.startswith("---\n")
    metadata = card.split("---\n")[1].splitlines()
    assert "library_name: transformers" in metadata and "- custom_generate" in metadata
    module = load_generate_module()
    parameters = list(inspect.signature(module.generate).parameters)
    assert parameters[:5] == ["model", "input_ids", "attention_mask", "max_new_tokens", "collapse_repeats"]
    # transformers' loader checks the requirements this way; they must hold here
    check_python_requirements(str(FOLDER), requirements_file="custom_generate/requirements.txt")


def test_custom_generate_equals_nar_generate_for_a_package_model(loader_run):
    assert loader_run["package"]["module"] == "modeling_bang.modeling_bang"
    check_matches_nar_generate(loader_run, "package")
    copied = list(loader_run["modules_cache"].glob("transformers_modules/custom_generate_nar/*/custom_generate/*.py"))
    assert [p.name for p in copied] == ["generate.py"]  # the loader's copy went to the temporary HF_MODULES_CACHE


def test_custom_generate_equals_nar_generate_for_a_remote_code_model(loader_run):
    module = loader_run["remote"]["module"]
    assert module.startswith("transformers_modules.") and module.endswith(".modeling_bang"), module
    check_matches_nar_generate(loader_run, "remote")


def test_custom_generate_refuses_autoregressive_only_arguments(loader_run):
    errors = loader_run["errors"]
    assert errors["num_beams"].startswith("ValueError: `num_beams=4`")
    assert errors["do_sample"].startswith("ValueError: `do_sample=True`")


def test_custom_generate_refuses_a_model_that_is_not_bang(loader_run):
    error = loader_run["errors"]["bart"]
    assert error.startswith("TypeError: This custom_generate method decodes BANG models only")
    assert "BartForConditionalGeneration" in error


def test_custom_generate_folder_needs_trust_remote_code(loader_run):
    error = loader_run["errors"]["untrusted"]
    assert error.startswith("ValueError: ") and "trust_remote_code=True" in error


# -----------------------------------------------------------------------------------------------------------------
# The function itself, imported from the file
# -----------------------------------------------------------------------------------------------------------------


def load_generate_module():
    spec = importlib.util.spec_from_file_location(
        "custom_generate_nar_under_test", FOLDER / "custom_generate" / "generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generate_function_returns_the_scores_of_nar_generate():
    custom = load_generate_module()
    model = lively_model()
    input_ids, attention_mask = padded_batch(model)
    settings = {"return_dict_in_generate": True, "output_scores": True, "output_logits": True}
    out = custom.generate(model, input_ids, attention_mask, max_new_tokens=5, **settings)
    reference = model.generate(
        input_ids, attention_mask=attention_mask, decoding_mode="nar", max_new_tokens=5, **settings
    )
    assert torch.equal(out.sequences, reference.sequences)
    assert len(out.scores) == 5 and all(torch.equal(a, b) for a, b in zip(out.scores, reference.scores, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(out.logits, reference.logits, strict=True))
    # the default attention mask (non-pad positions) and the canvas length from the generation config
    model.generation_config.max_new_tokens = 4
    expected = model.generate(input_ids, attention_mask=attention_mask, decoding_mode="nar")
    assert torch.equal(custom.generate(model, inputs=input_ids), expected)


def test_generate_function_refuses_bad_arguments():
    custom = load_generate_module()
    model = lively_model()
    input_ids, attention_mask = padded_batch(model)
    with pytest.raises(ValueError, match="either as `inputs` or as `input_ids`"):
        custom.generate(model, input_ids, inputs=input_ids, max_new_tokens=3)
    with pytest.raises(ValueError, match=r"does not use the argument\(s\) \['temperature'\]"):
        custom.generate(model, input_ids, max_new_tokens=3, temperature=0.7)
    with pytest.raises(ValueError, match="`streamer`"):
        custom.generate(model, input_ids, max_new_tokens=3, streamer=object())
    with pytest.raises(ValueError, match="Set `max_new_tokens`"):
        custom.generate(model, input_ids)  # a fresh model's generation config sets no length
    with pytest.raises(ValueError, match="`max_new_tokens` must be a positive integer"):
        custom.generate(model, input_ids, max_new_tokens=0)
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        custom.generate(model, input_ids, max_new_tokens=65)
    with pytest.raises(ValueError, match="non-empty"):
        custom.generate(model, input_ids[:, :0], max_new_tokens=3)
    with pytest.raises(ValueError, match="mode='nar'"):
        custom.generate(model, input_ids, max_new_tokens=3, mode="ngram")
    # what BANG's generate and GenerationMixin.generate pass along is accepted
    out = custom.generate(
        model, input_ids, attention_mask, max_new_tokens=3, mode="ar", num_beams=1, synced_gpus=False, streamer=None
    )
    assert out.shape[0] == 3
