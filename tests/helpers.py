"""Shared builders for the tests: tiny configs, random batches, the ProphetNet -> BANG weight copy, and loading and
checking the example scripts (the benchmarks)."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast, ProphetNetConfig, ProphetNetForConditionalGeneration

from modeling_bang import BangConfig, BangForConditionalGeneration


REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a launcher's rendezvous or a served demo)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_config(**overrides) -> BangConfig:
    """The test shape, with dropout off so that train-mode and eval-mode computations agree."""
    defaults = {"dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0}
    return BangConfig.from_preset("tiny", **{**defaults, **overrides})


def tiny_model(seed: int = 0, **overrides) -> BangForConditionalGeneration:
    torch.manual_seed(seed)
    return BangForConditionalGeneration(tiny_config(**overrides)).eval()


def tiny_tokenizer(words: Sequence[str] | None = None) -> PreTrainedTokenizerFast:
    """A word-level tokenizer for the tiny vocabulary (99 ids) in BANG's `text [SEP]` format.

    `[PAD]` 0, `[CLS]` 1 and `[SEP]` 2 as in the tiny config, `[UNK]` 3, `[MASK]` 4, then `words` for ids 5..98
    (default: the token of id i is `str(i)`, so a text of such integers spells its own ids).
    """
    words = [str(i) for i in range(5, 99)] if words is None else list(words)
    vocab = {token: i for i, token in enumerate(["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]", *words])}
    assert len(vocab) == 99, "the tiny vocabulary has 99 distinct tokens"
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = TemplateProcessing(
        single="$A [SEP]", pair="$A [SEP] $B [SEP]", special_tokens=[("[SEP]", vocab["[SEP]"])]
    )
    special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "eos_token": "[SEP]", "pad_token": "[PAD]"}
    return PreTrainedTokenizerFast(tokenizer_object=backend, cls_token="[CLS]", mask_token="[MASK]", **special)


def random_batch(config: BangConfig, batch: int = 3, source_len: int = 9, target_len: int = 6, seed: int = 1):
    """Source ids (right-padded, last row shorter), attention mask and labels ending with eos."""
    generator = torch.Generator().manual_seed(seed)
    low = max(config.pad_token_id, config.eos_token_id) + 1
    input_ids = torch.randint(low, config.vocab_size, (batch, source_len), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[-1, source_len - 3 :] = 0
    input_ids = input_ids.masked_fill(attention_mask.eq(0), config.pad_token_id)
    labels = torch.randint(low, config.vocab_size, (batch, target_len), generator=generator)
    labels[:, -1] = config.eos_token_id
    labels[-1, target_len - 2 :] = -100
    return input_ids, attention_mask, labels


def prophetnet_twin(seed: int = 0) -> tuple[ProphetNetForConditionalGeneration, BangForConditionalGeneration]:
    """A random tiny HF ProphetNet with one predicting stream and a BANG model holding the same weights.

    ProphetNet's position tables have `max_position_embeddings` rows for both encoder and decoder; BANG's have
    `max_position_embeddings + 1` (encoder) and `+ 2` (decoder), so BANG gets two positions fewer and the encoder
    table drops ProphetNet's last row.
    """
    torch.manual_seed(seed)
    prophet_config = ProphetNetConfig(
        vocab_size=99,
        hidden_size=16,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        num_encoder_layers=2,
        num_decoder_layers=2,
        num_encoder_attention_heads=4,
        num_decoder_attention_heads=4,
        max_position_embeddings=64,
        ngram=1,
        num_buckets=8,
        relative_max_distance=16,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        pad_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    )
    prophet = ProphetNetForConditionalGeneration(prophet_config).eval()
    bang = tiny_model(ngram=1, max_position_embeddings=62)
    source = prophet.prophetnet.state_dict()
    target = {
        "model.shared.weight": source["word_embeddings.weight"],
        "model.encoder.embed_positions.weight": source["encoder.position_embeddings.weight"][:63],
        "model.decoder.embed_positions.weight": source["decoder.position_embeddings.weight"],
        "model.decoder.predict_input_embedding": source["decoder.ngram_embeddings.weight"][0],
    }
    renames = {
        "embeddings_layer_norm": "embed_layer_norm",
        "query_proj": "q_proj",
        "key_proj": "k_proj",
        "value_proj": "v_proj",
        "relative_pos_embeddings": "relative_linear",
        "cross_attn.": "encoder_attn.",
        "cross_attn_layer_norm": "encoder_attn_layer_norm",
        "feed_forward.intermediate": "feed_forward.fc1",
        "feed_forward.output": "feed_forward.fc2",
        "feed_forward_layer_norm": "final_layer_norm",
    }
    for key, value in source.items():
        if "position_embeddings" in key or "word_embeddings" in key or "ngram_embeddings" in key:
            continue
        new_key = key
        for old, new in renames.items():
            new_key = new_key.replace(old, new)
        target["model." + new_key] = value
    missing, unexpected = bang.load_state_dict(target, strict=False)
    assert unexpected == [], unexpected
    assert set(missing) <= {"lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"}
    return prophet, bang


# ---------------------------------------------------------------------------------------------------------------
# Example scripts
# ---------------------------------------------------------------------------------------------------------------


def load_example(name: str) -> ModuleType:
    """The module `bang_spmd.<name>` (e.g. `cli.benchmark`)."""
    return importlib.import_module(f"bang_spmd.{name}")


def run_benchmark(script: ModuleType, argv: list[str], output_dir: Path) -> dict[str, Any]:
    """`script.main(argv)`; returns the results.json it wrote to `output_dir`, checked to be what `main` returned."""
    returned = script.main(argv)
    results = json.loads((output_dir / "results.json").read_text())
    assert results == json.loads(json.dumps(returned))
    return results


def check_machine_and_command(results: dict[str, Any], argv: list[str]) -> None:
    """The machine information of a `--threads 1` float32 run is filled in, and the command line is recorded."""
    machine = results["machine"]
    for key in ("torch", "transformers", "device_name", "cpu_count", "torch_threads", "dtype"):
        assert machine[key] not in (None, ""), key
    assert machine["torch_threads"] == 1 and machine["dtype"] == "float32"
    assert results["argv"] == argv and "--shapes tiny" in results["command"]


def check_timings(measurement: dict[str, Any], repeats: int, positive: Sequence[str], where: Any) -> None:
    """`repeats` positive timed calls, a positive median, min, max and `positive` fields, min <= median <= max."""
    seconds = measurement["seconds"]
    assert len(seconds) == repeats and all(t > 0 for t in seconds), where
    for key in ("median_ms", "min_ms", "max_ms", *positive):
        assert measurement[key] > 0, (where, key)
    assert measurement["min_ms"] <= measurement["median_ms"] <= measurement["max_ms"], where


def assert_refused(script: ModuleType, argv: list[str], capsys: pytest.CaptureFixture, message: str) -> None:
    """`script.parse_args(argv)` exits with argparse's usage error (2) and prints `message` to stderr."""
    with pytest.raises(SystemExit) as error:
        script.parse_args(argv)
    assert error.value.code == 2
    assert message in capsys.readouterr().err


def run_fresh_python(script: str, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 120):
    """Runs `python -c script args` in a new interpreter: offline, without PYTHONPATH, with stdin closed (a prompt
    fails instead of waiting) and `env` added; asserts that it succeeded and returns the completed process."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"} | (env or {})
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


ENGLISH = (
    "tool library files viewer graphical data network server client python bindings development documentation".split()
)
FRENCH = "outil bibliothèque fichiers afficheur graphique données réseau serveur client liaisons développement".split()


def translation_rows(n: int, seed: int = 0, paragraphs: bool = True) -> list[dict]:
    """Deterministic rows in the debtrans format (`id`, `kind`, `en`, `fr`), synopses and (optionally) one paragraph
    row per package, so that the tests need no shared data; the French side is a word-for-word rendering."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        picks = torch.randint(len(FRENCH), (int(torch.randint(2, 6, (1,), generator=generator)),), generator=generator)
        rows.append({"id": f"pkg{seed}-{i}#0", "kind": "synopsis", "en": " ".join(ENGLISH[int(k)] for k in picks),
                     "fr": " ".join(FRENCH[int(k)] for k in picks)})  # fmt: skip
        if paragraphs:
            rows.append({"id": f"pkg{seed}-{i}#1", "kind": "paragraph", "en": "This package contains the tool.",
                         "fr": "Ce paquet contient l’outil."})  # fmt: skip
    return rows


def save_tiny_pretrained(folder: Path, texts: Sequence[str], seed: int = 0) -> Path:
    """A tiny BANG with a cased, spacing-preserving WordPiece fitted to `texts`, saved like the shipped BANG-mini
    (two predicting streams, label smoothing 0.1): the stand-in start of the pipeline tests."""
    from modeling_bang import train_wordpiece_tokenizer

    tokenizer = train_wordpiece_tokenizer(
        texts, 150, min_frequency=1, lowercase=False, keep_spacing=True, model_max_length=64
    )
    config = tiny_config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.sep_token_id,
        cls_token_id=tokenizer.cls_token_id,
        ngram=2,
        label_smoothing=0.1,
    )
    torch.manual_seed(seed)
    BangForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
