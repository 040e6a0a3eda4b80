"""The pretrained BANG-mini that ships in the package (`bang_spmd.pretrained`): complete, loadable offline through the
package's classes and by its name in the programs, without a copy of the model code (the export and the upload attach
it: the exported folder loads as remote code where this package cannot be imported), pretrained (its masked-span loss
far below a random model's of the same shape), cased with accents, and a start that fine-tunes."""

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

from bang_spmd.cli import generate as generate_program
from bang_spmd.cli import push as push_program
from bang_spmd.hub.publish import PACKAGE_AUTO_MAP, PACKAGE_CODE_DIR, check_model_folder
from bang_spmd.pretrained import BANG_MINI, resolve_model_name
from bang_spmd.trainers.pretraining import BangSpanMaskingCollator
from modeling_bang import BangConfig, BangForConditionalGeneration

from .helpers import random_batch, run_fresh_python
from .test_hub_packaging import REMOTE_LOAD_SCRIPT


VALIDATION_TEXTS = [
    "Outil de gestion des paquets pour Debian, avec une interface en ligne de commande.",
    "This package contains the development files and the documentation of the library.",
    "Bibliothèque partagée pour lire et écrire des fichiers compressés au format gzip.",
    "A command-line utility to convert images between many formats, with scripting support.",
]


@pytest.fixture(scope="module")
def shipped():
    return AutoModelForSeq2SeqLM.from_pretrained(BANG_MINI).eval(), AutoTokenizer.from_pretrained(BANG_MINI)


REMOTE_CODE_FILES = ("configuration_bang.py", "modeling_bang.py", "generation_bang.py")


def test_the_shipped_folder_holds_no_code_and_is_a_complete_hub_package():
    """No copy of the model code and no auto_map (which would send trust_remote_code=True looking for it); publishing
    attaches the package's code (`bang_spmd.hub.publish`)."""
    assert resolve_model_name("bang-mini") == BANG_MINI
    assert not list(Path(BANG_MINI).rglob("*.py"))
    config = json.loads((Path(BANG_MINI) / "config.json").read_text())
    assert "auto_map" not in config
    assert config["model_type"] == "bang" and config["ngram"] >= 2
    files = set(check_model_folder(BANG_MINI))  # raises ValueError naming anything missing
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", *REMOTE_CODE_FILES} <= files


def test_the_packages_classes_load_the_shipped_folder(shipped):
    model, _ = shipped
    assert type(model) is BangForConditionalGeneration  # the registered class, not remote code
    assert type(AutoConfig.from_pretrained(BANG_MINI)) is BangConfig
    direct = BangForConditionalGeneration.from_pretrained(BANG_MINI)
    assert direct.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(direct.state_dict()[k], v) for k, v in model.state_dict().items())


def test_importing_the_name_is_enough_to_load_it(tmp_path):
    """The documented snippet, in a fresh process: `bang_spmd.pretrained` registers the classes that load BANG_MINI."""
    script = (
        "from transformers import AutoModelForSeq2SeqLM\n"
        "from bang_spmd.pretrained import BANG_MINI\n"
        "model = AutoModelForSeq2SeqLM.from_pretrained(BANG_MINI)\n"
        "assert type(model).__module__ == 'modeling_bang.modeling_bang', type(model).__module__\n"
    )
    run_fresh_python(script, cwd=tmp_path)


def test_the_programs_take_the_shipped_name(shipped, tmp_path, monkeypatch, capsys):
    """`bang-generate --model bang-mini` (the name resolved; no --trust_remote_code) decodes as the package's class."""
    model, tokenizer = shipped
    monkeypatch.chdir(tmp_path)  # no folder named bang-mini here
    argv = ["--model", "bang-mini", "--text", VALIDATION_TEXTS[1], "--decoding_mode", "ar", "--max_new_tokens", "8"]
    lines = generate_program.main([*argv, "--device", "cpu"])
    batch = tokenizer([VALIDATION_TEXTS[1]], return_tensors="pt")
    expected = model.generate(**batch, decoding_mode="ar", max_new_tokens=8)
    assert lines == tokenizer.batch_decode(expected, skip_special_tokens=True)
    assert capsys.readouterr().out == lines[0] + "\n"


def test_the_exported_shipped_model_loads_as_remote_code_without_the_package(shipped, tmp_path):
    """`bang-push --export_dir` gives the shipped folder the package's code and an auto_map (weights and the rest of
    the config unchanged); that folder loads with trust_remote_code=True in a fresh process that cannot import
    `modeling_bang` or `bang_spmd`, and computes what the package's class computes."""
    model, _ = shipped
    export = tmp_path / "bang-mini"
    files = push_program.main(["--model_dir", BANG_MINI, "--export_dir", str(export)])
    assert sorted(p.name for p in export.iterdir()) == files
    for name in REMOTE_CODE_FILES:
        assert (export / name).read_bytes() == (PACKAGE_CODE_DIR / name).read_bytes(), name
    config = json.loads((Path(BANG_MINI) / "config.json").read_text())
    expected_config = json.dumps(config | {"auto_map": PACKAGE_AUTO_MAP}, indent=2, sort_keys=True) + "\n"
    assert (export / "config.json").read_text() == expected_config
    assert (export / "model.safetensors").read_bytes() == (Path(BANG_MINI) / "model.safetensors").read_bytes()

    input_ids, attention_mask, labels = random_batch(model.config)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    torch.save(batch, export / "batch.pt")
    script = 'import sys\nsys.modules["bang_spmd"] = None\n' + REMOTE_LOAD_SCRIPT
    run_fresh_python(script, str(export), cwd=tmp_path)
    remote = torch.load(export / "remote_logits.pt", weights_only=True)
    with torch.no_grad():
        for mode in ("ar", "nar", "ngram"):
            torch.testing.assert_close(remote["logits"][mode], model(**batch, mode=mode).logits, rtol=0, atol=1e-5)
    source = {"input_ids": input_ids, "attention_mask": attention_mask}
    for mode in ("ar", "nar", "semi_nar"):
        expected = model.generate(**source, decoding_mode=mode, max_new_tokens=6)
        assert torch.equal(remote["generated"][mode], expected), mode


def test_the_tokenizer_is_cased_and_keeps_accents(shipped):
    _, tokenizer = shipped
    text = "Bibliothèque « partagée » pour Écrire l'été"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def masked_span_loss(model, tokenizer, seed=0):
    collator = BangSpanMaskingCollator(
        mask_token_id=tokenizer.mask_token_id,
        pad_token_id=tokenizer.pad_token_id,
        vocab_size=len(tokenizer),
        special_token_ids=tokenizer.all_special_ids,
        seed=seed,
    )
    batch = collator([{"input_ids": tokenizer(t).input_ids, "idx": i} for i, t in enumerate(VALIDATION_TEXTS)])
    with torch.no_grad():
        return model(**batch, mode="ngram").loss.item()


def test_the_weights_are_pretrained(shipped):
    """The n-stream span-masking loss of the shipped weights is far below that of random weights of the same shape
    (about ln V for a random model)."""
    model, tokenizer = shipped
    torch.manual_seed(0)
    random_model = BangForConditionalGeneration(model.config).eval()
    pretrained, untrained = masked_span_loss(model, tokenizer), masked_span_loss(random_model, tokenizer)
    assert untrained > math.log(len(tokenizer)) - 1.0
    assert pretrained < untrained - 2.0, (pretrained, untrained)


def test_fine_tuning_starts_from_the_shipped_model(shipped):
    """A few AR steps on English -> French pairs from the shipped start lower the loss on those pairs."""
    _, tokenizer = shipped
    model = AutoModelForSeq2SeqLM.from_pretrained(BANG_MINI)
    sources = ["library for reading gzip files", "command-line package manager", "documentation of the library"]
    targets = ["bibliothèque pour lire des fichiers gzip", "gestionnaire de paquets en ligne de commande",
               "documentation de la bibliothèque"]  # fmt: skip
    batch = tokenizer(sources, padding=True, return_tensors="pt")
    labels = tokenizer(targets, padding=True, return_tensors="pt").input_ids
    labels[labels == tokenizer.pad_token_id] = -100
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(8):
        loss = model(**batch, labels=labels, mode="ar").loss
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert losses[-1] < losses[0] - 1.0, losses


def test_a_new_model_takes_the_shipped_tokenizer_by_name(shipped, tmp_path):
    """`--config_preset tiny --tokenizer_name_or_path bang-mini` (a random-init model with BANG-mini's vocabulary, the
    baseline of the pretraining comparison) resolves the shipped name like --model_name_or_path does."""
    from bang_spmd.recipes.common import BangModelArguments, DataArguments, load_model

    model_args = BangModelArguments(config_preset="tiny", tokenizer_name_or_path="bang-mini")
    (tmp_path / "train.jsonl").write_text('{"source": "a library", "target": "une bibliothèque"}\n')
    data_args = DataArguments(train_file=str(tmp_path / "train.jsonl"), max_source_length=32, max_target_length=32)
    tokenizer, model = load_model(model_args, data_args)
    assert tokenizer.get_vocab() == shipped[1].get_vocab()
    assert model.config.vocab_size == len(tokenizer) and model.config.hidden_size != shipped[0].config.hidden_size
