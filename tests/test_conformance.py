"""The properties transformers' common model and generation tests check, written for BANG (this package's own tests).

transformers' `ModelTesterMixin` / `GenerationTesterMixin` (transformers 5.24) check, among others: attentions and
hidden states per layer with fixed shapes and a fixed number of output fields, gradients reaching them, tuple outputs
equal to dict outputs, tied-weight saving and loading (also with `tie_word_embeddings=False`, and from a checkpoint
that lacks weights), a loss that is the plain cross-entropy against `labels`, a config built without special ids,
assisted decoding both ways with greedy == assisted greedy, and the dict outputs of every generation method. This
file checks the same properties for BANG's default flow (`mode="ar"`, the one `generate` runs), plus the predicting
streams' own fields (`output_predict_streams`) and the `nar` / `ngram` flows where a property applies to them.

What does not apply to the NAR and n-stream flows, and why (see README, "Deployment: compile and export"):
* `nar` mode has no main stream: `last_hidden_state`, `decoder_hidden_states`, `decoder_attentions` and
  `cross_attentions` are None there; the mask stream is reported in the predicting-stream fields.
* NAR and semi-NAR `generate` are one-pass / blockwise argmax decoders: transformers' generation methods (sampling,
  beam search, assisted decoding, logits processors) and their per-step attentions and hidden states are AR-only;
  NAR returns scores/logits per canvas position only.
* The `ngram` flow is a training flow (n streams predicting the same target); transformers' generation tests do not
  apply to it, and its per-stream losses have no counterpart in the common tests.
"""

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForSeq2SeqLM, BartConfig, BartForConditionalGeneration

from modeling_bang import BangConfig, BangForConditionalGeneration, BangModel

from .helpers import random_batch, tiny_config, tiny_model


BATCH, SOURCE, TARGET = 3, 9, 6


def inputs(config, **extra):
    input_ids, attention_mask, labels = random_batch(config, batch=BATCH, source_len=SOURCE, target_len=TARGET)
    decoder_input_ids = shift(labels, config)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "decoder_input_ids": decoder_input_ids, **extra}


def shift(labels, config):
    shifted = labels.new_full(labels.shape, config.decoder_start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, config.pad_token_id)


def build(model_class, seed=0, **overrides):
    torch.manual_seed(seed)
    return model_class(tiny_config(**overrides)).eval()


MODEL_CLASSES = (BangModel, BangForConditionalGeneration)


# ---------------------------------------------------------------------------------------------------------------
# Attentions and hidden states
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_attentions_per_layer_have_the_documented_shapes(model_class, implementation):
    model = build(model_class)
    model.config._attn_implementation = implementation
    config, heads = model.config, model.config.decoder_attention_heads
    with torch.no_grad():
        out = model(**inputs(config), output_attentions=True)
    assert len(out.encoder_attentions) == config.encoder_layers
    assert len(out.decoder_attentions) == len(out.cross_attentions) == config.decoder_layers
    for encoder, decoder, cross in zip(
        out.encoder_attentions, out.decoder_attentions, out.cross_attentions, strict=True
    ):
        assert encoder.shape == (BATCH, config.encoder_attention_heads, SOURCE, SOURCE)
        assert decoder.shape == (BATCH, heads, TARGET, TARGET)  # the main stream over the main stream
        assert cross.shape == (BATCH, heads, TARGET, SOURCE)
        # causal: no weight on a later main position; padding of the source gets none
        assert decoder.triu(1).abs().max() == 0
        assert encoder[-1, :, :, -3:].abs().max() == 0
        torch.testing.assert_close(decoder.sum(-1), torch.ones(BATCH, heads, TARGET))
    # the field count transformers' test_attention_outputs expects: logits / last state, cache, 3 attentions, encoder
    assert len(out) == 6
    assert out.decoder_predict_attentions is None  # the predicting streams only on request


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_hidden_states_hold_the_main_stream_per_layer(model_class):
    model = build(model_class)
    config = model.config
    with torch.no_grad():
        out = model(**inputs(config), output_hidden_states=True)
        config.output_hidden_states = True  # through the config too
        from_config = model(**inputs(config))
    for result in (out, from_config):
        assert len(result.encoder_hidden_states) == len(result.decoder_hidden_states) == config.encoder_layers + 1
        assert all(h.shape == (BATCH, SOURCE, config.hidden_size) for h in result.encoder_hidden_states)
        assert all(h.shape == (BATCH, TARGET, config.hidden_size) for h in result.decoder_hidden_states)
    if model_class is BangModel:
        torch.testing.assert_close(out.decoder_hidden_states[-1], out.last_hidden_state)
    torch.testing.assert_close(out.encoder_hidden_states[-1], out.encoder_last_hidden_state)


@pytest.mark.parametrize("mode", ["ar", "ngram", "nar"])
def test_predicting_streams_have_their_own_fields(mode):
    model = build(BangModel, ngram=3)
    config = model.config
    streams = {"ar": 1, "ngram": 3, "nar": 1}[mode]
    kwargs = inputs(config, mode=mode, output_hidden_states=True, output_attentions=True, canvas_length=TARGET)
    with torch.no_grad():
        out = model(**kwargs, output_predict_streams=True)
        default = model(**kwargs)
    layers = config.decoder_layers
    assert out.predict_hidden_state.shape == (BATCH, streams, TARGET, config.hidden_size)
    assert len(out.decoder_predict_hidden_states) == layers + 1
    assert all(h.shape == (BATCH, streams, TARGET, config.hidden_size) for h in out.decoder_predict_hidden_states)
    keys = (0 if mode == "nar" else TARGET) + streams * TARGET
    assert all(a.shape == (BATCH, config.decoder_attention_heads, streams * TARGET, keys) for a in
               out.decoder_predict_attentions)  # fmt: skip
    assert all(a.shape[-2:] == (streams * TARGET, SOURCE) for a in out.predict_cross_attentions)
    torch.testing.assert_close(out.decoder_predict_hidden_states[-1], out.predict_hidden_state)
    if mode == "nar":  # no main stream; the mask stream is the decoder's output, reported without asking
        assert out.last_hidden_state is None and out.decoder_hidden_states is None and out.decoder_attentions is None
        assert default.predict_hidden_state is not None and default.decoder_predict_hidden_states is not None
    else:
        assert out.decoder_hidden_states[0].shape == (BATCH, TARGET, config.hidden_size)
        assert default.predict_hidden_state is None and default.decoder_predict_hidden_states is None


def test_recorded_states_and_weights_receive_gradients():
    """As transformers' test_retain_grad_hidden_states_attentions: the returned tensors are the computation's own."""
    model = build(BangForConditionalGeneration).train()
    out = model(**inputs(model.config), output_hidden_states=True, output_attentions=True, output_predict_streams=True)
    watched = {
        "encoder_hidden_states": out.encoder_hidden_states[0],
        "encoder_attentions": out.encoder_attentions[0],
        "decoder_hidden_states": out.decoder_hidden_states[0],
        "decoder_attentions": out.decoder_attentions[0],
        "cross_attentions": out.cross_attentions[0],
        "decoder_predict_hidden_states": out.decoder_predict_hidden_states[0],
        "decoder_predict_attentions": out.decoder_predict_attentions[0],
    }
    for tensor in watched.values():
        tensor.retain_grad()
    out[0].flatten()[0].backward()
    assert [name for name, tensor in watched.items() if tensor.grad is None] == []


@pytest.mark.parametrize("mode", ["ar", "ngram", "nar"])
def test_recording_changes_no_result(mode):
    model = build(BangForConditionalGeneration)
    kwargs = inputs(model.config, mode=mode, canvas_length=TARGET)
    with torch.no_grad():
        plain = model(**kwargs)
        recorded = model(**kwargs, output_hidden_states=True, output_attentions=True, output_predict_streams=True)
    torch.testing.assert_close(recorded.logits, plain.logits, atol=1e-6, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Tuple outputs
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
@pytest.mark.parametrize("with_labels", [False, True])
def test_return_dict_false_gives_the_tuple_of_the_dict_output(model_class, with_labels):
    model = build(model_class)
    kwargs = inputs(model.config, output_hidden_states=True, output_attentions=True, use_cache=False)
    if with_labels and model_class is BangForConditionalGeneration:
        kwargs["labels"] = random_batch(model.config, batch=BATCH, source_len=SOURCE, target_len=TARGET)[2]
    with torch.no_grad():
        as_dict = model(**kwargs)
        as_tuple = model(**kwargs, return_dict=False)
        model.config.return_dict = False
        from_config = model(**kwargs)
    for result in (as_tuple, from_config):
        assert type(result) is tuple
        flat_expected = torch.utils._pytree.tree_leaves(as_dict.to_tuple())
        flat_got = torch.utils._pytree.tree_leaves(result)
        assert len(flat_got) == len(flat_expected)
        for got, expected in zip(flat_got, flat_expected, strict=True):
            torch.testing.assert_close(got, expected)
    assert torch.equal(as_tuple[0], as_dict.loss if "labels" in kwargs else as_dict[0])


def test_encoder_honours_return_dict_and_attentions():
    model = build(BangForConditionalGeneration)
    kwargs = inputs(model.config)
    encoder = model.get_encoder()
    out = encoder(kwargs["input_ids"], attention_mask=kwargs["attention_mask"], output_attentions=True)
    as_tuple = encoder(kwargs["input_ids"], attention_mask=kwargs["attention_mask"], return_dict=False)
    assert len(out.attentions) == model.config.encoder_layers and type(as_tuple) is tuple
    torch.testing.assert_close(as_tuple[0], out.last_hidden_state)


# ---------------------------------------------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------------------------------------------


def test_labels_give_the_plain_cross_entropy_unless_smoothing_is_set():
    model = build(BangForConditionalGeneration)
    assert BangConfig().label_smoothing == 0.0 and model.config.label_smoothing == 0.0
    input_ids, attention_mask, labels = random_batch(model.config)
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits.transpose(1, 2), labels), atol=1e-6, rtol=1e-6)
    model.config.label_smoothing = 0.1
    smoothed = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    expected = F.cross_entropy(out.logits.transpose(1, 2), labels, label_smoothing=0.1)
    torch.testing.assert_close(smoothed, expected, atol=1e-6, rtol=1e-6)


def test_the_loss_is_aligned_with_the_labels_not_shifted_twice():
    """As transformers' test_encoder_decoder_loss_no_double_shift: the gradient w.r.t. the logits is that of the
    cross-entropy against `labels` themselves, given right-shifted decoder inputs."""
    model = build(BangForConditionalGeneration)
    input_ids, attention_mask, labels = random_batch(model.config)
    labels = labels.clamp(min=3)
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        labels=labels,
        decoder_input_ids=shift(labels, model.config),
    )
    logits = out.logits
    reported = torch.autograd.grad(out.loss, logits, retain_graph=True)[0]
    aligned = torch.autograd.grad(F.cross_entropy(logits.transpose(1, 2), labels), logits, retain_graph=True)[0]
    shifted = torch.autograd.grad(F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:]), logits)[0]
    torch.testing.assert_close(reported, aligned)
    assert not torch.allclose(reported, shifted)


def test_a_saved_label_smoothing_is_kept(tmp_path):
    model = tiny_model(label_smoothing=0.1)
    model.save_pretrained(tmp_path)
    assert BangForConditionalGeneration.from_pretrained(tmp_path).config.label_smoothing == 0.1


# ---------------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------------


def test_a_config_without_special_ids_builds_and_runs():
    """As transformers' test_model_forward_default_config_values: the ids are set after the config is built (the
    default `eos_token_id` 102 lies outside the tiny vocabulary until then, which only a model build refuses)."""
    config = BangConfig(**{k: v for k, v in tiny_config().to_diff_dict().items() if not k.endswith("token_id")})
    with pytest.raises(ValueError, match=r"BangModel cannot be built .*`eos_token_id` \(102\) is outside the vocab"):
        BangModel(config)
    for name in ("pad_token_id", "eos_token_id", "decoder_start_token_id"):
        setattr(config, name, 0)
    model = BangModel(config).eval()
    with torch.no_grad():
        model(**inputs(tiny_config()))
    generator = BangForConditionalGeneration(config)
    config.decoder_start_token_id = 500
    with pytest.raises(ValueError, match=r"decoder_start_token_id` \(500\) is outside the vocabulary of size 99"):
        generator.generate(torch.tensor([[5, 6, 2]]), max_new_tokens=2)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"pad_token_id": 500}, r"`pad_token_id` \(500\) is outside the vocabulary of size 99 \(ids 0 to 98\)"),
        ({"eos_token_id": 99}, r"`eos_token_id` \(99\) is outside the vocabulary of size 99"),
        ({"decoder_start_token_id": 120}, r"`decoder_start_token_id` \(120\) is outside the vocabulary of size 99"),
        ({"cls_token_id": 99}, r"`cls_token_id` \(99\) is outside the vocabulary of size 99"),
        ({"vocab_size": 2}, r"`eos_token_id` \(2\) is outside the vocabulary of size 2 \(ids 0 to 1\)"),
    ],
)
def test_special_ids_outside_the_vocabulary_are_refused_when_the_config_is_built(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**overrides)


def test_special_ids_set_after_construction_are_refused_when_a_model_is_built():
    config = tiny_config()
    config.vocab_size = 4
    config.pad_token_id = 3  # any order: transformers' test_resize_tokens_embeddings does this
    assert BangForConditionalGeneration(config).config.vocab_size == 4
    config.pad_token_id = 4
    for model_class in (BangModel, BangForConditionalGeneration):
        with pytest.raises(
            ValueError, match=rf"{model_class.__name__} cannot be built from this config: `pad_token_id`"
        ):
            model_class(config)


def test_resizing_below_a_special_id_is_refused_before_anything_changes():
    model = tiny_model()
    embedding = model.get_input_embeddings()
    with pytest.raises(ValueError, match=r"resize_token_embeddings\(2\) is refused: `eos_token_id` \(2\) is outs"):
        model.resize_token_embeddings(2)
    assert model.get_input_embeddings() is embedding and model.config.vocab_size == 99
    assert model.resize_token_embeddings(2, pad_to_multiple_of=8).weight.shape[0] == 8  # 8 holds the ids 0, 1, 2
    assert model.config.vocab_size == 8 and model.get_input_embeddings().padding_idx == 0


def test_a_key_that_is_no_field_is_kept_saved_and_reloaded(tmp_path, caplog):
    """transformers' config contract: an unknown key is an attribute (a config.json written by a newer version of this
    package, or edited by hand, still loads), with no warning unless it looks like a misspelt field."""
    with caplog.at_level("WARNING"):
        config = tiny_config(attention_sink=4, rms_norm_eps=1.0, sep_token_id=2, tie_encoder_decoder=False)
    assert (config.attention_sink, config.rms_norm_eps, config.sep_token_id) == (4, 1.0, 2)
    assert caplog.text == ""
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["attention_sink"] == 4
    assert BangConfig.from_pretrained(tmp_path).attention_sink == 4


def test_a_misspelt_field_is_kept_with_a_warning_naming_the_field(caplog):
    with caplog.at_level("WARNING"):
        config = tiny_config(hidden_sise=8, ngrams=3)
    assert (config.hidden_sise, config.hidden_size, config.ngrams, config.ngram) == (8, 16, 3, 2)
    assert "BangConfig got `hidden_sise`, which is not one of its fields: did you mean `hidden_size`?" in caplog.text
    assert "BangConfig got `ngrams`, which is not one of its fields: did you mean `ngram`?" in caplog.text
    assert "model does not read it" in caplog.text


def test_a_saved_model_whose_config_has_an_extra_key_loads(tmp_path, caplog):
    """From `from_pretrained` and `AutoConfig` / `AutoModelForSeq2SeqLM`: the extra key comes back as an attribute."""
    model = tiny_model()
    model.save_pretrained(tmp_path)
    settings = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**settings, "attention_sink": 4, "dropuot": 0.5}))
    with caplog.at_level("WARNING"):
        loaded = BangForConditionalGeneration.from_pretrained(tmp_path)
        auto_config = AutoConfig.from_pretrained(tmp_path)
        auto_model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert "did you mean `dropout`?" in caplog.text
    for config in (loaded.config, auto_config, auto_model.config):
        assert isinstance(config, BangConfig) and (config.attention_sink, config.dropuot) == (4, 0.5)
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    assert torch.equal(auto_model.lm_head.weight, model.lm_head.weight)


# ---------------------------------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------------------------------


def _state_without(folder, dropped: tuple[str, ...]):
    state = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in state.items() if not k.startswith(dropped)}, folder / "model.safetensors",
              metadata={"format": "pt"})  # fmt: skip
    return state


def test_a_checkpoint_without_the_shared_embedding_reports_it_missing(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    saved = _state_without(tmp_path, ("model.shared",))
    assert "model.shared.weight" in saved and "lm_head.weight" not in saved  # aliases are not serialised
    reloaded, info = BangForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert set(info["missing_keys"]) == {
        "model.shared.weight",
        "model.encoder.embed_tokens.weight",
        "model.decoder.embed_tokens.weight",
        "lm_head.weight",
    }
    assert [n for n, p in reloaded.named_parameters() if p.device.type == "meta"] == []
    assert reloaded.lm_head.weight is reloaded.model.shared.weight
    assert reloaded.model.encoder.embed_tokens.weight is reloaded.model.shared.weight
    assert 0 < reloaded.model.shared.weight.std() < 1  # initialised, not left empty
    input_ids, attention_mask, labels = random_batch(reloaded.config)
    assert torch.isfinite(reloaded(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss)
    with pytest.raises(ValueError, match=r"does not match .*: missing weights .*model.shared.weight"):
        BangForConditionalGeneration.from_pretrained(tmp_path, strict=True)


def test_a_checkpoint_without_the_shared_embedding_is_refused_unless_a_partial_load_is_asked_for(tmp_path):
    """Without the caller asking for a partial load, missing weights are an error naming them (transformers would
    initialise them and only log a report); `allow_missing_weights=True` and `output_loading_info=True` keep
    transformers' behaviour."""
    tiny_model().save_pretrained(tmp_path)
    _state_without(tmp_path, ("model.shared",))
    with pytest.raises(ValueError) as refused:
        BangForConditionalGeneration.from_pretrained(tmp_path)
    message = str(refused.value)
    assert f"The checkpoint {tmp_path} lacks weights that BangForConditionalGeneration needs: " in message
    assert "model.shared.weight" in message and "allow_missing_weights=True" in message
    reloaded = BangForConditionalGeneration.from_pretrained(tmp_path, allow_missing_weights=True)
    assert reloaded.lm_head.weight is reloaded.model.shared.weight
    with pytest.raises(ValueError, match="pass one"):
        BangForConditionalGeneration.from_pretrained(tmp_path, allow_missing_weights=True, strict=True)
    with pytest.raises(ValueError, match="lacks weights that BangModel needs: .*shared.weight"):
        BangModel.from_pretrained(tmp_path)


def test_a_checkpoint_without_a_layer_names_the_missing_weights(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    saved = _state_without(tmp_path, ("model.decoder.layers.1.",))
    dropped = sorted(k for k in saved if k.startswith("model.decoder.layers.1."))
    with pytest.raises(ValueError) as refused:
        BangForConditionalGeneration.from_pretrained(tmp_path)
    listed = ", ".join(dropped[:12]) + f" and {len(dropped) - 12} more."
    assert str(refused.value).split("needs: ")[1].startswith(listed)


def test_the_partial_models_transformers_builds_on_purpose_still_load(tmp_path):
    """A base-model checkpoint into the head model (its head is tied to the loaded embedding), another shape with
    `ignore_mismatched_sizes=True`, and a `device_map` load."""
    torch.manual_seed(0)
    BangModel(tiny_config()).save_pretrained(tmp_path / "base")
    head = BangForConditionalGeneration.from_pretrained(tmp_path / "base")  # nothing is missing: no error
    assert head.lm_head.weight is head.model.shared.weight
    tiny_model().save_pretrained(tmp_path / "full")
    wider = tiny_config(hidden_size=32)
    resized = BangForConditionalGeneration.from_pretrained(
        tmp_path / "full", config=wider, ignore_mismatched_sizes=True
    )
    assert resized.model.shared.weight.shape == (wider.vocab_size, 32)
    on_cpu = BangForConditionalGeneration.from_pretrained(tmp_path / "full", device_map="cpu")
    assert on_cpu.model.shared.weight.device.type == "cpu"


def test_a_state_dict_without_a_checkpoint_name_is_checked_unless_it_is_empty():
    """`from_pretrained(None, config=..., state_dict=...)`: an empty state dict asks for a newly initialised model (as
    transformers' test_can_init_all_missing_weights), a partial one is refused as a partial checkpoint is."""
    config = tiny_config()
    fresh = BangForConditionalGeneration.from_pretrained(None, config=config, state_dict={})
    assert torch.isfinite(fresh.model.shared.weight).all()
    partial = {k: v for k, v in tiny_model().state_dict().items() if not k.startswith("model.encoder.layers.0.")}
    with pytest.raises(ValueError, match=r"lacks weights that BangForConditionalGeneration needs: model\.encoder"):
        BangForConditionalGeneration.from_pretrained(None, config=config, state_dict=partial)


def test_strict_loading_names_unexpected_and_accepts_a_complete_checkpoint(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    strict, info = BangForConditionalGeneration.from_pretrained(tmp_path, strict=True, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    state = load_file(tmp_path / "model.safetensors")
    state["model.decoder.extra.weight"] = torch.zeros(2)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    _, info = BangForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert "model.decoder.extra.weight" in info["unexpected_keys"]
    with pytest.raises(ValueError, match=r"unexpected weights model.decoder.extra.weight\.$"):
        BangForConditionalGeneration.from_pretrained(tmp_path, strict=True)


def test_a_weight_of_another_shape_is_an_error(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["model.decoder.predict_input_embedding"] = torch.zeros(5)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    shapes = r"model.decoder.predict_input_embedding \(\(5,\) in the checkpoint, \(16,\) in the model\)"
    with pytest.raises(ValueError, match=shapes + r".*Pass ignore_mismatched_sizes=True"):
        BangForConditionalGeneration.from_pretrained(tmp_path)
    _, info = BangForConditionalGeneration.from_pretrained(
        tmp_path, ignore_mismatched_sizes=True, output_loading_info=True
    )
    assert [k[0] for k in info["mismatched_keys"]] == ["model.decoder.predict_input_embedding"]


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_an_empty_checkpoint_reports_every_weight_missing(tmp_path, model_class):
    """As transformers' test_model_weights_reload_no_missing_tied_weights."""
    model = build(model_class)
    model.save_pretrained(tmp_path)
    save_file({"tensor": torch.tensor([1, 2])}, tmp_path / "model.safetensors", metadata={"format": "pt"})
    reloaded, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
    assert set(info["missing_keys"]) == set(dict(reloaded.named_parameters(remove_duplicate=False)))
    assert info["unexpected_keys"] == {"tensor"}


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_untied_output_projection_saves_and_loads(tmp_path, model_class):
    """As transformers' test_load_save_without_tied_weights: `tie_word_embeddings=False` gives the LM head its own
    matrix; the encoder and decoder inputs stay tied to `shared`."""
    config = tiny_config()
    config.tie_word_embeddings = False
    torch.manual_seed(0)
    model = model_class(config).eval()
    base = model if model_class is BangModel else model.model
    assert base.encoder.embed_tokens.weight is base.shared.weight is base.decoder.embed_tokens.weight
    if model_class is BangForConditionalGeneration:
        assert model.lm_head.weight is not base.shared.weight
    model.save_pretrained(tmp_path)
    reloaded, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name
    if model_class is BangForConditionalGeneration:
        assert reloaded.lm_head.weight is not reloaded.model.shared.weight


def test_tied_weights_share_one_storage_and_resize_keeps_them_tied():
    model = tiny_model()
    shared = model.model.shared.weight
    assert model.lm_head.weight is shared is model.model.encoder.embed_tokens.weight
    model.resize_token_embeddings(120)
    assert model.lm_head.weight is model.model.shared.weight is model.model.decoder.embed_tokens.weight
    assert model.lm_head.weight.shape == (120, model.config.hidden_size) and model.config.vocab_size == 120


# ---------------------------------------------------------------------------------------------------------------
# Generation: dict outputs of every method, assisted decoding both ways
# ---------------------------------------------------------------------------------------------------------------


def lively(seed=0, **overrides):
    return build(BangForConditionalGeneration, seed=seed, init_std=0.3, **overrides)


def sources(model, batch=2):
    input_ids, attention_mask, _ = random_batch(model.config, batch=batch, source_len=SOURCE)
    return input_ids, attention_mask


@pytest.mark.parametrize(
    ("method", "settings"),
    [
        ("greedy", {}),
        ("sample", {"do_sample": True, "top_k": 5}),
        ("beam_search", {"num_beams": 2}),
        ("beam_sample", {"num_beams": 2, "do_sample": True}),
    ],
)
@pytest.mark.parametrize("use_cache", [True, False])
def test_dict_outputs_of_every_generation_method(method, settings, use_cache):
    model = lively()
    model.config._attn_implementation = "eager"
    config, new_tokens = model.config, 4
    input_ids, attention_mask = sources(model)
    torch.manual_seed(0)
    out = model.generate(
        input_ids,
        attention_mask=attention_mask,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        use_cache=use_cache,
        return_dict_in_generate=True,
        output_scores=True,
        output_logits=True,
        output_attentions=True,
        output_hidden_states=True,
        **settings,
    )
    rows = 2 * settings.get("num_beams", 1)
    assert out.sequences.shape == (2, 1 + new_tokens)
    assert len(out.scores) == len(out.logits) == new_tokens
    assert all(s.shape == (rows, config.vocab_size) for s in out.scores)
    assert len(out.encoder_hidden_states) == config.encoder_layers + 1
    assert out.encoder_hidden_states[0].shape == (2, SOURCE, config.hidden_size)
    assert out.encoder_attentions[0].shape == (2, config.encoder_attention_heads, SOURCE, SOURCE)
    assert len(out.decoder_hidden_states) == len(out.decoder_attentions) == len(out.cross_attentions) == new_tokens
    for step in range(new_tokens):
        queries = 1 if use_cache else step + 1  # the main stream of this step
        states, weights, cross = (
            out.decoder_hidden_states[step],
            out.decoder_attentions[step],
            out.cross_attentions[step],
        )
        assert len(states) == config.decoder_layers + 1 and len(weights) == len(cross) == config.decoder_layers
        assert all(h.shape == (rows, queries, config.hidden_size) for h in states)
        assert all(w.shape == (rows, config.decoder_attention_heads, queries, step + 1) for w in weights)
        assert all(w.shape == (rows, config.decoder_attention_heads, queries, SOURCE) for w in cross)


def test_generate_ar_with_a_config_that_defaults_to_nar_mode_and_an_explicit_mode():
    model = lively()
    input_ids, attention_mask = sources(model)
    model.config.default_mode = "nar"
    expected = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=3)
    assert torch.equal(model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=3, mode="ar"), expected)
    with pytest.raises(ValueError, match="decoding_mode"):
        model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=3, mode="nar")


@pytest.mark.parametrize("assistant_seed", [0, 1])
def test_assisted_greedy_equals_greedy_with_bang_as_main_and_as_assistant(assistant_seed):
    """The same weights (every candidate accepted) and other weights (candidates rejected) as the assistant."""
    main, assistant = lively(seed=0), lively(seed=assistant_seed)
    input_ids, attention_mask = sources(main, batch=1)  # transformers' assisted decoding takes one row
    settings = {"attention_mask": attention_mask, "max_new_tokens": 5, "min_new_tokens": 5, "do_sample": False}
    greedy = main.generate(input_ids, **settings)
    assisted = main.generate(input_ids, assistant_model=assistant, **settings)
    assert torch.equal(assisted, greedy)
    dict_out = main.generate(
        input_ids, assistant_model=assistant, return_dict_in_generate=True, output_scores=True, **settings
    )
    assert torch.equal(dict_out.sequences, greedy) and len(dict_out.scores) == 5


def test_bang_as_the_assistant_of_another_transformers_model():
    bart = BartForConditionalGeneration(
        BartConfig(
            vocab_size=99, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=8, decoder_ffn_dim=8, max_position_embeddings=64,
            pad_token_id=0, eos_token_id=2, decoder_start_token_id=2, bos_token_id=1, forced_eos_token_id=None,
        )
    ).eval()  # fmt: skip
    assistant = lively()
    input_ids, attention_mask = sources(assistant, batch=1)
    settings = {"attention_mask": attention_mask, "max_new_tokens": 5, "min_new_tokens": 5, "do_sample": False}
    greedy = bart.generate(input_ids, **settings)
    assert torch.equal(bart.generate(input_ids, assistant_model=assistant, **settings), greedy)


def test_generate_with_inputs_embeds_and_encoder_outputs_matches_ids():
    model = lively()
    input_ids, attention_mask = sources(model)
    expected = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=3)
    embeds = model.get_input_embeddings()(input_ids)
    assert torch.equal(model.generate(inputs_embeds=embeds, attention_mask=attention_mask, max_new_tokens=3), expected)
    with torch.no_grad():
        encoder_outputs = model.get_encoder()(input_ids, attention_mask=attention_mask)
    got = model.generate(
        encoder_outputs=copy.deepcopy(encoder_outputs), attention_mask=attention_mask, max_new_tokens=3
    )
    assert torch.equal(got, expected)
