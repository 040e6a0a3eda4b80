"""The official fairseq checkpoint converter, on tiny state dicts with exactly the official key names and shapes.

The key list below is written from the official module definitions, not from our model:

* microsoft/BANG `bang/bang/bang_AR_NAR_mixed.py`: `TransformerEncoder` registers the buffer `version` and owns
  `embed_tokens`, `embed_positions` (`LearnedPositionalEmbedding(max_source_positions + 1 + padding_idx)`, padding 0)
  and `emb_layer_norm`; `TransformerEncoderLayer` owns `self_attn` (fairseq `MultiheadAttention`),
  `self_attn_layer_norm`, `fc1`, `fc2`, `final_layer_norm`. `NgramTransformerDecoder` registers `version` and owns
  `embed_tokens`, `embed_positions` (`max_target_positions + 2 + padding_idx` rows), `ngram_input_embed`
  (`Embedding(1, dim)`; pretraining checkpoints hold 2 rows, of which `build_model` keeps row 1) and `emb_layer_norm`;
  `NgramTransformerDecoderARNARMixedLayer` owns `ngram_self_attn`, `self_attn_layer_norm`, `encoder_attn` (fairseq
  `MultiheadAttention`), `encoder_attn_layer_norm`, `fc1`, `fc2`, `final_layer_norm`.
* `bang/bang/ngram_multihead_attention_AR_NAR_mixed.py`: `relative_linear = nn.Linear(dim, num_buckets * heads)`,
  `in_proj_weight` (3 dim, dim) and `in_proj_bias` (3 dim) in q|k|v order (or `q_proj_weight`, `k_proj_weight`,
  `v_proj_weight` with a packed `in_proj_bias`), `out_proj = nn.Linear(dim, dim)`.
* fairseq `fairseq/modules/multihead_attention.py`: at v0.8.0 the same packed / separate layouts; at v0.9.0
  `q_proj`, `k_proj`, `v_proj`, `out_proj` Linear modules (older checkpoints are upgraded on load).
"""

import argparse
import collections
import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from modeling_bang.convert_bang_original_checkpoint import convert_bang_original_checkpoint, main


HIDDEN, HEADS, VOCAB, MAX_POSITIONS, BUCKETS = 16, 4, 110, 20, 8
ENCODER_LAYERS, DECODER_LAYERS, ENCODER_FFN, DECODER_FFN = 2, 3, 24, 28
REPO_ROOT = Path(__file__).resolve().parents[1]

# Layouts of the q/k/v projections: (fairseq MultiheadAttention modules, the decoder's ngram_self_attn).
LAYOUTS = {
    "fairseq-0.9": (
        "modules",
        "packed",
    ),  # what fairseq 0.9 saves: upgraded MultiheadAttention, packed ngram attention
    "fairseq-0.8": ("packed", "packed"),
    "separate": ("separate", "separate"),  # kdim/vdim != embed_dim branch of both modules
}


def _attention_shapes(prefix: str, layout: str) -> dict[str, tuple[int, ...]]:
    d = HIDDEN
    if layout == "packed":
        shapes = {f"{prefix}in_proj_weight": (3 * d, d), f"{prefix}in_proj_bias": (3 * d,)}
    elif layout == "separate":
        shapes = {f"{prefix}{n}_proj_weight": (d, d) for n in "qkv"} | {f"{prefix}in_proj_bias": (3 * d,)}
    else:
        shapes = {
            f"{prefix}{n}_proj.{kind}": (d, d) if kind == "weight" else (d,)
            for n in "qkv"
            for kind in ("weight", "bias")
        }
    return shapes | {f"{prefix}out_proj.weight": (d, d), f"{prefix}out_proj.bias": (d,)}


def _norm(prefix: str) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (HIDDEN,), f"{prefix}.bias": (HIDDEN,)}


def _linear(prefix: str, out_features: int, in_features: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (out_features, in_features), f"{prefix}.bias": (out_features,)}


def official_shapes(layout: str = "fairseq-0.9", ngram_rows: int = 2) -> dict[str, tuple[int, ...]]:
    """Every key of the official `BANGARNarMixedModel.state_dict()` with its shape (see the module docstring)."""
    module_layout, ngram_layout = LAYOUTS[layout]
    d = HIDDEN
    shapes: dict[str, tuple[int, ...]] = {
        "encoder.version": (1,),
        "encoder.embed_tokens.weight": (VOCAB, d),
        "encoder.embed_positions.weight": (MAX_POSITIONS + 1 + 0, d),  # max_source_positions + 1 + padding_idx
        **_norm("encoder.emb_layer_norm"),
    }
    for i in range(ENCODER_LAYERS):
        p = f"encoder.layers.{i}."
        shapes |= _attention_shapes(p + "self_attn.", module_layout)
        shapes |= _norm(p + "self_attn_layer_norm")
        shapes |= _linear(p + "fc1", ENCODER_FFN, d) | _linear(p + "fc2", d, ENCODER_FFN)
        shapes |= _norm(p + "final_layer_norm")
    shapes |= {
        "decoder.version": (1,),
        "decoder.embed_tokens.weight": (VOCAB, d),
        "decoder.embed_positions.weight": (MAX_POSITIONS + 2 + 0, d),  # max_target_positions + 2 + padding_idx
        "decoder.ngram_input_embed.weight": (ngram_rows, d),
        **_norm("decoder.emb_layer_norm"),
    }
    for i in range(DECODER_LAYERS):
        p = f"decoder.layers.{i}."
        shapes |= _attention_shapes(p + "ngram_self_attn.", ngram_layout)
        shapes |= _linear(p + "ngram_self_attn.relative_linear", BUCKETS * HEADS, d)
        shapes |= _norm(p + "self_attn_layer_norm")
        shapes |= _attention_shapes(p + "encoder_attn.", module_layout)
        shapes |= _norm(p + "encoder_attn_layer_norm")
        shapes |= _linear(p + "fc1", DECODER_FFN, d) | _linear(p + "fc2", d, DECODER_FFN)
        shapes |= _norm(p + "final_layer_norm")
    return shapes


def official_state_dict(layout: str = "fairseq-0.9", ngram_rows: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state_dict = {}
    for key, shape in official_shapes(layout, ngram_rows).items():
        if key.endswith(".version"):
            state_dict[key] = torch.Tensor([3])
        else:
            state_dict[key] = torch.randn(shape, generator=generator)
    state_dict["decoder.embed_tokens.weight"] = state_dict["encoder.embed_tokens.weight"]  # share_all_embeddings
    return state_dict


def official_args(**overrides) -> argparse.Namespace:
    """The training arguments a fairseq 0.9 checkpoint stores (only plain values)."""
    settings = {
        "arch": "bang_ar_nar_mixed_base",
        "task": "translation_bang",
        "encoder_embed_dim": HIDDEN,
        "decoder_embed_dim": HIDDEN,
        "encoder_layers": ENCODER_LAYERS,
        "decoder_layers": DECODER_LAYERS,
        "encoder_attention_heads": HEADS,
        "decoder_attention_heads": HEADS,
        "encoder_ffn_embed_dim": ENCODER_FFN,
        "decoder_ffn_embed_dim": DECODER_FFN,
        "activation_fn": "gelu",
        "dropout": 0.1,
        "attention_dropout": 0.1,
        "activation_dropout": 0.1,
        "ngram": 2,
        "num_buckets": BUCKETS,
        "relative_max_distance": 16,
        "max_source_positions": MAX_POSITIONS,
        "max_target_positions": MAX_POSITIONS,
        "share_all_embeddings": True,
        "share_decoder_input_output_embed": True,
        "label_smoothing": 0.1,
        "adam_betas": "(0.9, 0.999)",
        "lr": [0.0001],
        "load_from_pretrained_model": None,
    }
    return argparse.Namespace(**{**settings, **overrides})


def write_vocab(folder: Path) -> Path:
    """A WordPiece vocabulary of VOCAB tokens with BERT's special-token ids (pad 0, [SEP] 102)."""
    tokens = [f"tok{i}" for i in range(VOCAB)]
    for index, token in {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}.items():
        tokens[index] = token
    path = folder / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def save_checkpoint(folder: Path, state_dict, args=None, name: str = "checkpoint.pt", **save_kwargs) -> Path:
    path = folder / name
    payload = state_dict if args is False else {"model": state_dict, "args": args or official_args()}
    torch.save(payload, path, **save_kwargs)
    return path


def expected_bang_state(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Where each official tensor must land in BangForConditionalGeneration, written rule by rule."""
    d = HIDDEN
    embedding = sd["encoder.embed_tokens.weight"]
    out = {
        "model.shared.weight": embedding,
        "model.encoder.embed_tokens.weight": embedding,
        "model.decoder.embed_tokens.weight": embedding,
        "lm_head.weight": embedding,
        "model.encoder.embed_positions.weight": sd["encoder.embed_positions.weight"],
        "model.decoder.embed_positions.weight": sd["decoder.embed_positions.weight"],
        "model.decoder.predict_input_embedding": sd["decoder.ngram_input_embed.weight"][-1],
    }
    for side in ("encoder", "decoder"):
        for kind in ("weight", "bias"):
            out[f"model.{side}.embed_layer_norm.{kind}"] = sd[f"{side}.emb_layer_norm.{kind}"]

    def attention(src: str, dst: str) -> None:
        for index, name in enumerate("qkv"):
            rows = slice(index * d, (index + 1) * d)
            if f"{src}in_proj_weight" in sd:
                out[f"{dst}{name}_proj.weight"] = sd[f"{src}in_proj_weight"][rows]
            elif f"{src}{name}_proj_weight" in sd:
                out[f"{dst}{name}_proj.weight"] = sd[f"{src}{name}_proj_weight"]
            else:
                out[f"{dst}{name}_proj.weight"] = sd[f"{src}{name}_proj.weight"]
            if f"{src}in_proj_bias" in sd:
                out[f"{dst}{name}_proj.bias"] = sd[f"{src}in_proj_bias"][rows]
            else:
                out[f"{dst}{name}_proj.bias"] = sd[f"{src}{name}_proj.bias"]
        for kind in ("weight", "bias"):
            out[f"{dst}out_proj.{kind}"] = sd[f"{src}out_proj.{kind}"]

    def copy(src: str, dst: str) -> None:
        for kind in ("weight", "bias"):
            out[f"{dst}.{kind}"] = sd[f"{src}.{kind}"]

    for i in range(ENCODER_LAYERS):
        src, dst = f"encoder.layers.{i}.", f"model.encoder.layers.{i}."
        attention(src + "self_attn.", dst + "self_attn.")
        copy(src + "self_attn_layer_norm", dst + "self_attn_layer_norm")
        copy(src + "fc1", dst + "feed_forward.fc1")
        copy(src + "fc2", dst + "feed_forward.fc2")
        copy(src + "final_layer_norm", dst + "final_layer_norm")
    for i in range(DECODER_LAYERS):
        src, dst = f"decoder.layers.{i}.", f"model.decoder.layers.{i}."
        attention(src + "ngram_self_attn.", dst + "self_attn.")
        copy(src + "ngram_self_attn.relative_linear", dst + "self_attn.relative_linear")
        copy(src + "self_attn_layer_norm", dst + "self_attn_layer_norm")
        attention(src + "encoder_attn.", dst + "encoder_attn.")
        copy(src + "encoder_attn_layer_norm", dst + "encoder_attn_layer_norm")
        copy(src + "fc1", dst + "feed_forward.fc1")
        copy(src + "fc2", dst + "feed_forward.fc2")
        copy(src + "final_layer_norm", dst + "final_layer_norm")
    return out


def run_modes(model) -> None:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(104, VOCAB, (2, 7), generator=generator)
    input_ids[:, -1] = 102
    labels = torch.randint(104, VOCAB, (2, 5), generator=generator)
    with torch.no_grad():
        ar = model(input_ids=input_ids, labels=labels, mode="ar")
        nar = model(input_ids=input_ids, mode="nar", canvas_length=6)
    assert ar.logits.shape == (2, 5, VOCAB) and torch.isfinite(ar.logits).all() and torch.isfinite(ar.loss)
    assert nar.logits.shape == (2, 6, VOCAB) and torch.isfinite(nar.logits).all()


# ---------------------------------------------------------------------------------------------------------------
# Successful conversions
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_official_checkpoint_converts_to_a_hub_folder_with_every_tensor_in_place(tmp_path, layout):
    sd = official_state_dict(layout)
    checkpoint = save_checkpoint(tmp_path, sd)
    out = tmp_path / "converted"
    convert_bang_original_checkpoint(checkpoint, out, vocab_file=write_vocab(tmp_path))

    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "configuration_bang.py", "modeling_bang.py"} <= names
    assert {"generation_config.json", "tokenizer.json", "tokenizer_config.json"} <= names
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_bang.BangForConditionalGeneration"
    expected_config = {
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "encoder_layers": ENCODER_LAYERS,
        "decoder_layers": DECODER_LAYERS,
        "encoder_attention_heads": HEADS,
        "decoder_attention_heads": HEADS,
        "encoder_ffn_dim": ENCODER_FFN,
        "decoder_ffn_dim": DECODER_FFN,
        "max_position_embeddings": MAX_POSITIONS,
        "activation_function": "gelu",
        "dropout": 0.1,
        "ngram": 2,
        "num_buckets": BUCKETS,
        "relative_max_distance": 16,
        "pad_token_id": 0,
        "eos_token_id": 102,
        "decoder_start_token_id": 102,
    }
    assert {k: config[k] for k in expected_config} == expected_config
    generation = json.loads((out / "generation_config.json").read_text())
    assert (generation["num_beams"], generation["length_penalty"], generation["early_stopping"]) == (4, 1.2, True)
    assert (generation["pad_token_id"], generation["eos_token_id"], generation["decoder_start_token_id"]) == (
        0,
        102,
        102,
    )

    model = AutoModelForSeq2SeqLM.from_pretrained(out, trust_remote_code=True).eval()
    got = model.state_dict()
    expected = expected_bang_state(sd)
    assert set(got) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(got[key], tensor), key
    # The points the conversion is most likely to get wrong, spelled out.
    attention = "decoder.layers.1.ngram_self_attn."
    if LAYOUTS[layout][1] == "packed":
        assert torch.equal(
            got["model.decoder.layers.1.self_attn.q_proj.weight"], sd[attention + "in_proj_weight"][:HIDDEN]
        )
        assert torch.equal(
            got["model.decoder.layers.1.self_attn.v_proj.bias"], sd[attention + "in_proj_bias"][2 * HIDDEN :]
        )
    assert torch.equal(got["model.decoder.predict_input_embedding"], sd["decoder.ngram_input_embed.weight"][1])
    assert got["model.encoder.embed_positions.weight"].shape == (MAX_POSITIONS + 1, HIDDEN)
    assert got["model.decoder.embed_positions.weight"].shape == (MAX_POSITIONS + 2, HIDDEN)
    assert torch.equal(
        got["model.decoder.layers.2.self_attn.relative_linear.weight"],
        sd["decoder.layers.2.ngram_self_attn.relative_linear.weight"],
    )
    assert torch.equal(
        got["model.decoder.layers.0.encoder_attn_layer_norm.bias"], sd["decoder.layers.0.encoder_attn_layer_norm.bias"]
    )
    assert "model.shared.weight" in load_file(out / "model.safetensors")
    run_modes(model)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert (len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id) == (VOCAB, 0, 102)


def test_bare_legacy_state_dict_without_args_converts_with_cli_overrides(tmp_path, capsys):
    sd = official_state_dict("fairseq-0.8", ngram_rows=1)
    del sd["decoder.embed_tokens.weight"]  # a checkpoint may store the shared matrix once
    # torch 1.3, which the official code requires, wrote the legacy (non-zip) format.
    checkpoint = save_checkpoint(tmp_path, sd, args=False, _use_new_zipfile_serialization=False)
    out = tmp_path / "converted"
    # No args: BANG-base's 12 heads do not divide the tiny relative_linear, so the heads must be given.
    with pytest.raises(ValueError, match="decoder_attention_heads=12"):
        convert_bang_original_checkpoint(checkpoint, out, save_tokenizer=False)
    argv = [str(checkpoint), str(out), "--attention-heads", "4", "--set", "relative_max_distance=16", "--no-tokenizer"]
    assert main(argv) == 0
    assert "Converted" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert (config["encoder_attention_heads"], config["num_buckets"], config["ngram"], config["dropout"]) == (
        4,
        8,
        1,
        0.1,
    )
    model = AutoModelForSeq2SeqLM.from_pretrained(out, trust_remote_code=True).eval()
    assert torch.equal(model.model.decoder.predict_input_embedding, sd["decoder.ngram_input_embed.weight"][0])
    assert torch.equal(model.lm_head.weight, sd["encoder.embed_tokens.weight"])
    run_modes(model)


def test_output_projection_equal_to_the_embedding_is_accepted_and_folder_needs_overwrite(tmp_path):
    sd = official_state_dict()
    sd["decoder.embed_out"] = sd["encoder.embed_tokens.weight"].clone()
    checkpoint = save_checkpoint(tmp_path, sd)
    out = tmp_path / "converted"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty.*--overwrite"):
        convert_bang_original_checkpoint(checkpoint, out, save_tokenizer=False)
    assert {p.name for p in out.iterdir()} == {"notes.txt"}
    convert_bang_original_checkpoint(checkpoint, out, save_tokenizer=False, overwrite=True)
    assert (out / "model.safetensors").is_file() and (out / "notes.txt").read_text() == "keep me"


# ---------------------------------------------------------------------------------------------------------------
# Loud failures
# ---------------------------------------------------------------------------------------------------------------


def _convert(tmp_path: Path, sd, args=None):
    checkpoint = save_checkpoint(tmp_path, sd, args)
    out = tmp_path / "converted"
    convert_bang_original_checkpoint(checkpoint, out, save_tokenizer=False)
    return out


def test_renamed_key_is_named_as_missing_and_unknown(tmp_path):
    sd = official_state_dict()
    sd["decoder.layers.1.encoder_attn.key_proj.weight"] = sd.pop("decoder.layers.1.encoder_attn.k_proj.weight")
    with pytest.raises(ValueError) as error:
        _convert(tmp_path, sd)
    message = str(error.value)
    assert "missing keys: `decoder.layers.1.encoder_attn.k_proj.weight`" in message
    assert "`decoder.layers.1.encoder_attn.key_proj.weight` (16, 16)" in message
    assert not (tmp_path / "converted").exists()


@pytest.mark.parametrize(
    "key, shape, message",
    [
        (
            "encoder.layers.1.fc2.weight",
            (HIDDEN, ENCODER_FFN + 1),
            r"`encoder.layers.1.fc2.weight` has shape \(16, 25\)",
        ),
        (
            "decoder.layers.0.ngram_self_attn.in_proj_weight",
            (3 * HIDDEN + 3, HIDDEN),
            r"`decoder.layers.0.ngram_self_attn.in_proj_weight`\[0:17\] has shape \(17, 16\)",
        ),
        ("encoder.layers.0.fc1.weight", (ENCODER_FFN + 2, HIDDEN), "encoder_ffn_embed_dim=24 but the tensors give"),
        ("decoder.layers.2.self_attn_layer_norm.bias", (HIDDEN - 1,), r"`decoder.layers.2.self_attn_layer_norm.bias`"),
    ],
)
def test_corrupted_shape_is_named(tmp_path, key, shape, message):
    sd = official_state_dict()
    sd[key] = torch.randn(shape)
    with pytest.raises(ValueError, match=message):
        _convert(tmp_path, sd)


def test_unknown_extra_key_is_refused(tmp_path):
    sd = official_state_dict()
    sd["decoder.layers.0.ngram_self_attn.bias_k"] = torch.randn(1, 1, HIDDEN)
    with pytest.raises(ValueError, match=r"unknown keys.*`decoder.layers.0.ngram_self_attn.bias_k` \(1, 1, 16\)"):
        _convert(tmp_path, sd)


def test_inconsistent_embeddings_positions_and_ngram_rows_are_refused(tmp_path):
    sd = official_state_dict()
    sd["decoder.embed_out"] = torch.randn(VOCAB, HIDDEN)
    with pytest.raises(ValueError, match="`decoder.embed_out`.*differs from `encoder.embed_tokens.weight`"):
        _convert(tmp_path, sd)

    sd = official_state_dict()
    sd["decoder.embed_tokens.weight"] = torch.randn(VOCAB, HIDDEN)
    with pytest.raises(ValueError, match="`decoder.embed_tokens.weight`.*differs"):
        _convert(tmp_path, sd)

    sd = official_state_dict()
    sd["decoder.embed_positions.weight"] = torch.randn(MAX_POSITIONS + 1, HIDDEN)
    with pytest.raises(
        ValueError,
        match=r"`encoder.embed_positions.weight`.*`decoder.embed_positions.weight`.*\(21, 16\) and \(21, 16\)",
    ):
        _convert(tmp_path, sd)

    sd = official_state_dict(ngram_rows=3)
    with pytest.raises(ValueError, match=r"`decoder.ngram_input_embed.weight` has shape \(3, 16\)"):
        _convert(tmp_path, sd)

    with pytest.raises(ValueError, match="encoder_layers=6 but the tensors give encoder_layers=2"):
        _convert(tmp_path, official_state_dict(), official_args(encoder_layers=6))


class PickledStateDict(collections.OrderedDict):
    """Any class outside torch's allow-list stands for arbitrary code in a pickle."""


@pytest.mark.parametrize(
    "payload, found",
    [
        (lambda sd: {"model": sd, "args": official_args(started=datetime.datetime(2021, 1, 1))}, "datetime.datetime"),
        (lambda sd: {"model": PickledStateDict(sd), "args": official_args()}, "PickledStateDict"),
    ],
)
def test_checkpoint_with_other_pickled_objects_is_refused(tmp_path, payload, found):
    path = tmp_path / "checkpoint.pt"
    torch.save(payload(official_state_dict()), path)
    with pytest.raises(ValueError) as error:
        convert_bang_original_checkpoint(path, tmp_path / "converted", save_tokenizer=False)
    message = str(error.value)
    assert "contains pickled objects other than argparse.Namespace" in message
    assert "will not unpickle them" in message and found in message
    assert not (tmp_path / "converted").exists()


def test_cli_help_runs():
    result = subprocess.run(
        [sys.executable, "-m", "modeling_bang.convert_bang_original_checkpoint", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--overwrite" in result.stdout and "--attention-heads" in result.stdout
