"""The pretrained BANG-mini that ships in the package (`bang_spmd.pretrained`): complete, loadable offline, pretrained
(its masked-span loss far below a random model's of the same shape), cased with accents, and a start that
fine-tunes."""

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

import modeling_bang
from bang_spmd.hub.publish import check_model_folder
from bang_spmd.pretrained import BANG_MINI, resolve_model_name
from bang_spmd.trainers.pretraining import BangSpanMaskingCollator
from modeling_bang import BangForConditionalGeneration


VALIDATION_TEXTS = [
    "Outil de gestion des paquets pour Debian, avec une interface en ligne de commande.",
    "This package contains the development files and the documentation of the library.",
    "Bibliothèque partagée pour lire et écrire des fichiers compressés au format gzip.",
    "A command-line utility to convert images between many formats, with scripting support.",
]


@pytest.fixture(scope="module")
def shipped():
    return AutoModelForSeq2SeqLM.from_pretrained(BANG_MINI).eval(), AutoTokenizer.from_pretrained(BANG_MINI)


def test_the_shipped_folder_is_a_complete_hub_package():
    assert resolve_model_name("bang-mini") == BANG_MINI
    files = set(check_model_folder(BANG_MINI))  # raises ValueError naming anything missing
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "modeling_bang.py"} <= files
    config = json.loads((Path(BANG_MINI) / "config.json").read_text())
    assert config["model_type"] == "bang" and config["ngram"] >= 2


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


def test_the_shipped_remote_code_is_the_packages_code():
    """The remote-code files in the shipped folder (so that it loads with trust_remote_code=True where this package
    is not installed) are today's `modeling_bang` files; after changing the model code, refresh them with
    `cp modeling_bang/{configuration,modeling,generation}_bang.py bang_spmd/pretrained/bang-mini/`."""
    package = Path(modeling_bang.__file__).parent
    for name in ("configuration_bang.py", "modeling_bang.py", "generation_bang.py"):
        assert (Path(BANG_MINI) / name).read_bytes() == (package / name).read_bytes(), name


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
