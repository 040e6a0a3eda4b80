"""The saved folder is Hub-ready (remote code, safetensors, auto_map, tokenizer) and loads without the package."""

import ast
import json
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

import modeling_bang
from modeling_bang import BangConfig, BangForConditionalGeneration, BangModel

from .helpers import random_batch, run_fresh_python, tiny_model


PACKAGE_DIR = Path(modeling_bang.__file__).parent

# Runs in a fresh interpreter where `import modeling_bang` fails, loads the saved folder as remote code and writes the
# logits of every mode next to it.
REMOTE_LOAD_SCRIPT = r"""
import sys
sys.modules["modeling_bang"] = None  # make the package unimportable, whatever is installed
try:
    import modeling_bang  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("modeling_bang is importable in the subprocess")
import torch
from transformers import AutoModelForSeq2SeqLM
folder = sys.argv[1]
model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
assert "transformers_modules" in type(model).__module__, type(model).__module__
batch = torch.load(folder + "/batch.pt", weights_only=True)
with torch.no_grad():
    logits = {mode: model(**batch, mode=mode).logits for mode in ("ar", "nar", "ngram")}
source = {k: batch[k] for k in ("input_ids", "attention_mask")}
generated = {m: model.generate(**source, decoding_mode=m, max_new_tokens=6) for m in ("ar", "nar", "semi_nar")}
verify = model.generate(
    **source, decoding_mode="semi_nar", semi_nar_acceptance="verify", semi_nar_block_size=2, max_new_tokens=6,
    return_dict_in_generate=True,
)
generated["verify"] = verify.sequences
generated["verify_tokens_per_pass"] = verify.tokens_per_pass
torch.save({"logits": logits, "generated": generated}, folder + "/remote_logits.pt")
"""


def test_auto_classes_are_registered():
    settings = {k: v for k, v in BangConfig.from_preset("tiny").to_dict().items() if k != "model_type"}
    config = AutoConfig.for_model("bang", **settings)
    assert isinstance(config, BangConfig)
    assert isinstance(AutoModel.from_config(config), BangModel)
    assert isinstance(AutoModelForSeq2SeqLM.from_config(config), BangForConditionalGeneration)


def test_save_pretrained_writes_remote_code_and_safetensors_only(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors", "configuration_bang.py", "modeling_bang.py"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth"))]
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_bang.BangConfig",
        "AutoModelForSeq2SeqLM": "modeling_bang.BangForConditionalGeneration",
    }


def test_remote_code_files_import_only_their_siblings():
    """Files that travel to the Hub may import the standard library, torch, transformers and each other only."""
    allowed_top = {
        "collections",
        "dataclasses",
        "difflib",
        "json",
        "math",
        "os",
        "pathlib",
        "typing",
        "torch",
        "transformers",
        "tokenizers",
    }
    for name in ("configuration_bang.py", "modeling_bang.py", "generation_bang.py"):
        tree = ast.parse((PACKAGE_DIR / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in allowed_top for a in node.names), (name, ast.unparse(node))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    assert node.module in {"configuration_bang", "generation_bang"}, (name, ast.unparse(node))
                else:
                    assert node.module.split(".")[0] in allowed_top, (name, ast.unparse(node))


def test_fresh_process_without_the_package_loads_with_trust_remote_code(tmp_path):
    model = tiny_model(init_std=0.3)  # large enough weights that generations depend on the input
    input_ids, attention_mask, labels = random_batch(model.config)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    model.save_pretrained(tmp_path)
    torch.save(batch, tmp_path / "batch.pt")
    run_fresh_python(REMOTE_LOAD_SCRIPT, str(tmp_path), cwd=tmp_path)
    remote = torch.load(tmp_path / "remote_logits.pt", weights_only=True)
    assert {p.name for p in tmp_path.iterdir()} >= {"generation_bang.py", "generation_config.json"}
    with torch.no_grad():
        for mode in ("ar", "nar", "ngram"):
            assert torch.equal(remote["logits"][mode], model(**batch, mode=mode).logits), mode
    verify = {name: remote["generated"].pop(name) for name in ("verify", "verify_tokens_per_pass")}
    for mode, generated in remote["generated"].items():
        expected = model.generate(input_ids, attention_mask=attention_mask, decoding_mode=mode, max_new_tokens=6)
        assert torch.equal(generated, expected), mode
    # Lossless semi-NAR decoding through remote code is greedy AR decoding, 1 to 2 tokens per pass.
    assert torch.equal(verify["verify"], remote["generated"]["ar"])
    assert bool(((verify["verify_tokens_per_pass"] >= 1) & (verify["verify_tokens_per_pass"] <= 2)).all())
