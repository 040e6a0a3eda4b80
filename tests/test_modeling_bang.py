"""Equivalence and property tests of the BANG model: caching, kernels, causality, padding, streams, loss, saving."""

import copy
import itertools
import os
import stat
import types

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForSeq2SeqLM

from modeling_bang import BangConfig, BangForConditionalGeneration
from modeling_bang.modeling_bang import build_ngram_visibility, compute_relative_buckets

from .helpers import prophetnet_twin, random_batch, tiny_config, tiny_model


MODES = ("ar", "nar", "ngram")


def forward(model, mode, input_ids, attention_mask, labels, **kwargs):
    with torch.no_grad():
        return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, mode=mode, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# AR mode
# ---------------------------------------------------------------------------------------------------------------


def test_cached_incremental_ar_logits_equal_teacher_forced():
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
    full = forward(model, "ar", input_ids, attention_mask, None, decoder_input_ids=decoder_input_ids).logits

    with torch.no_grad():
        encoder_outputs = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)
        past = None
        steps = []
        for t in range(decoder_input_ids.shape[1]):
            out = model(
                encoder_outputs=encoder_outputs,
                attention_mask=attention_mask,
                decoder_input_ids=decoder_input_ids[:, t : t + 1],
                cache=past,
                use_cache=True,
                mode="ar",
            )
            past = out.cache
            steps.append(out.logits[:, -1])
    assert past.get_seq_length() == decoder_input_ids.shape[1]
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_ar_main_stream_is_causal():
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels).masked_fill(labels.eq(-100), 5)
    base = forward(model, "ar", input_ids, attention_mask, None, decoder_input_ids=decoder_input_ids)
    for k in range(1, decoder_input_ids.shape[1]):
        changed = decoder_input_ids.clone()
        changed[:, k:] = (changed[:, k:] + 7) % model.config.vocab_size
        out = forward(model, "ar", input_ids, attention_mask, None, decoder_input_ids=changed)
        torch.testing.assert_close(out.logits[:, :k], base.logits[:, :k], atol=1e-6, rtol=0)
        # position k's prediction reads the main stream up to k, so it must change
        assert (out.logits[:, k] - base.logits[:, k]).abs().max() > 1e-4


def test_ar_matches_hf_prophetnet_with_one_stream():
    """BANG AR is ProphetNet with one predicting stream (microsoft/BANG `bang/bang/bang_AR_NAR_mixed.py`, whose decoder
    is ProphetNet's `NgramTransformerDecoder`).

    transformers 5.23's `ProphetNetNgramSelfAttention.get_predict_relative_pos_embeddings` pairs the
    predicting-stream relative logits of (position, head) with buckets of (head, position): it permutes the
    per-bucket values to (batch, time, ngram, head) while the bucket rows are (ngram, batch, head, time). The
    official fairseq code (`ngram_relative_logits`) uses (ngram, batch, head, time) for both. The peer is patched
    with the official ordering here; `test_predict_relative_logits_follow_official_formula` checks the formula.
    """
    prophet, bang = prophetnet_twin()

    def official_predict_relative(self, hidden_states, attn_weights, position_ids, buckets):
        batch, length, ngram, _ = hidden_states.shape
        values = self.relative_pos_embeddings(hidden_states).view(
            batch, length, ngram, self.num_buckets, self.num_attn_heads
        )
        values = values.permute(0, 2, 4, 1, 3)  # (batch, ngram, head, time, bucket)
        index = buckets[:, None, None].expand(batch, ngram, self.num_attn_heads, length, buckets.shape[-1])
        return values.gather(-1, index)

    for layer in prophet.prophetnet.decoder.layers:
        layer.self_attn.get_predict_relative_pos_embeddings = types.MethodType(
            official_predict_relative, layer.self_attn
        )
    input_ids, attention_mask, labels = random_batch(bang.config)
    decoder_input_ids = bang.prepare_decoder_input_ids_from_labels(labels)
    with torch.no_grad():
        expected = prophet(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
    for implementation in ("eager", "sdpa"):
        bang.config._attn_implementation = implementation
        got = forward(bang, "ar", input_ids, attention_mask, None, decoder_input_ids=decoder_input_ids)
        torch.testing.assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)


def test_predict_relative_logits_follow_official_formula():
    """bias[b, h, t, k] = relative_linear(x_t)[bucket(t, k) * heads + h], as `ngram_relative_logits` computes."""
    model = tiny_model()
    attention = model.model.decoder.layers[0].self_attn
    batch, length, keys = 2, 5, 7
    queries = torch.randn(batch, length, model.config.hidden_size)
    buckets = torch.randint(0, model.config.num_buckets, (batch, length, keys))
    visible = torch.ones(batch, length, keys, dtype=torch.bool)
    got = attention._attention_bias(queries, buckets, visible)
    values = attention.relative_linear(queries)
    heads = model.config.decoder_attention_heads
    expected = torch.empty_like(got)
    for b, h, t, k in itertools.product(range(batch), range(heads), range(length), range(keys)):
        expected[b, h, t, k] = values[b, t, buckets[b, t, k] * heads + h]
    torch.testing.assert_close(got, expected)


def test_relative_buckets_match_reference_values():
    # num_buckets 32, max distance 128 (BANG-base): exact up to 15, then logarithmic, capped at 31.
    distances = torch.tensor([0, 1, 15, 16, 20, 64, 127, 128, 500])
    buckets = compute_relative_buckets(-distances, 32, 128)
    expected = [0, 1, 15, 16, 17, 26, 31, 31, 31]
    assert buckets.tolist() == expected
    assert compute_relative_buckets(torch.tensor([3, 1]), 32, 128).tolist() == [0, 0]  # future keys -> bucket 0


# ---------------------------------------------------------------------------------------------------------------
# NAR mode
# ---------------------------------------------------------------------------------------------------------------


def test_nar_logits_do_not_depend_on_later_positions_or_canvas_length():
    model = tiny_model()
    input_ids, attention_mask, _ = random_batch(model.config)
    short = forward(model, "nar", input_ids, attention_mask, None, canvas_length=4).logits
    long = forward(model, "nar", input_ids, attention_mask, None, canvas_length=11).logits
    torch.testing.assert_close(long[:, :4], short, atol=1e-6, rtol=0)


def test_nar_decoder_input_ids_only_set_the_canvas_length():
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    base = forward(model, "nar", input_ids, attention_mask, labels)
    other = forward(model, "nar", input_ids, attention_mask, labels, decoder_input_ids=torch.full_like(labels, 7))
    torch.testing.assert_close(other.logits, base.logits)
    torch.testing.assert_close(other.loss, base.loss)


def test_nar_masks_attend_causally():
    """Perturbing the embedded mask at position k changes NAR outputs at positions >= k only."""
    model = tiny_model()
    input_ids, attention_mask, _ = random_batch(model.config)
    length = 6
    base = forward(model, "nar", input_ids, attention_mask, None, canvas_length=length).logits
    for k in range(length):
        handle = model.model.decoder.embed_layer_norm.register_forward_hook(_perturb_rows([k]))
        out = forward(model, "nar", input_ids, attention_mask, None, canvas_length=length).logits
        handle.remove()
        changed = (out - base).abs().amax(dim=(0, 2)) > 1e-6
        assert changed.tolist() == [t >= k for t in range(length)]


# ---------------------------------------------------------------------------------------------------------------
# n-stream mode
# ---------------------------------------------------------------------------------------------------------------


def documented_visibility(length: int, streams: int) -> torch.Tensor:
    """The rule of the module docstring, written out independently of `build_ngram_visibility`.

    Rows: main positions 0..T-1, then stream s position t at T + s*T + t. Columns: the same order.
    """
    size = length * (1 + streams)
    rule = torch.zeros(size, size, dtype=torch.bool)
    for t in range(length):
        for j in range(t + 1):
            rule[t, j] = True  # main stream: causal
    for s in range(streams):
        for t in range(length):
            row = length + s * length + t
            for j in range(max(t - s, 0) + 1):
                rule[row, j] = True
            rule[row, row] = True
            for m in range(1, min(s, t) + 1):
                rule[row, length + (s - m) * length + (t - m)] = True
    return rule


def _perturb_rows(rows):
    def hook(module, args, output):
        output = output.clone()
        output[:, rows] += torch.linspace(0.5, 1.5, output.shape[-1])
        return output

    return hook


@pytest.mark.parametrize("layers", [1, 2])
def test_ngram_positions_see_exactly_the_documented_rule(layers):
    """Perturb each decoder input row (after embedding) and record which outputs move.

    With one layer, the dependency pattern is the visibility rule itself; with two layers it is the rule composed
    with itself (boolean matrix product), so nothing reaches a position by any path the rule does not allow.
    """
    model = tiny_model(ngram=3, decoder_layers=layers)
    input_ids, attention_mask, labels = random_batch(model.config, target_len=6)
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels).masked_fill(labels.eq(-100), 5)
    length, streams = decoder_input_ids.shape[1], 3

    def run():
        out = model.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            mode="ngram",
            output_hidden_states=True,
            output_predict_streams=True,
        )
        main, streams_out = out.decoder_hidden_states[-1], out.decoder_predict_hidden_states[-1]  # (B, S, T, D)
        return torch.cat([main, streams_out.flatten(1, 2)], dim=1)  # (B, T + S*T, D)

    with torch.no_grad():
        base = run()
        dependency = torch.zeros(length * (1 + streams), length * (1 + streams), dtype=torch.bool)
        for key in range(length * (1 + streams)):
            handle = model.model.decoder.embed_layer_norm.register_forward_hook(_perturb_rows([key]))
            moved = (run() - base).abs().amax(dim=(0, 2)) > 1e-6
            handle.remove()
            dependency[:, key] = moved

    rule = documented_visibility(length, streams)
    expected = rule
    for _ in range(layers - 1):
        expected = (expected.float() @ rule.float()) > 0
    assert torch.equal(dependency, expected)
    assert torch.equal(build_ngram_visibility(length, streams), rule[length:])


def test_ngram_first_stream_equals_ar_mode():
    model = tiny_model(ngram=3)
    input_ids, attention_mask, labels = random_batch(model.config)
    ar = forward(model, "ar", input_ids, attention_mask, labels)
    ngram = forward(model, "ngram", input_ids, attention_mask, labels)
    torch.testing.assert_close(ngram.predict_logits[:, 0], ar.logits, atol=1e-5, rtol=1e-5)


def test_ngram_stream_losses_count_exactly_their_positions():
    model = tiny_model(ngram=3, label_smoothing=0.0)
    input_ids, attention_mask, labels = random_batch(model.config, target_len=7)
    span_index = torch.tensor([[0, 1, 2, 3, 0, 1, 2]]).expand_as(labels)
    out = forward(model, "ngram", input_ids, attention_mask, labels, target_span_index=span_index)
    total, count = 0.0, 0
    for s in range(3):
        keep = labels.ne(-100) & (span_index >= s)
        nll = F.cross_entropy(out.predict_logits[:, s][keep], labels[keep], reduction="sum")
        torch.testing.assert_close(out.stream_losses[s], nll / keep.sum(), atol=1e-5, rtol=1e-5)
        total, count = total + nll, count + int(keep.sum())
    torch.testing.assert_close(out.loss, total / count, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Shared properties of all modes
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_eager_and_sdpa_agree(mode):
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    model.config._attn_implementation = "eager"
    eager = forward(model, mode, input_ids, attention_mask, labels)
    model.config._attn_implementation = "sdpa"
    sdpa = forward(model, mode, input_ids, attention_mask, labels)
    torch.testing.assert_close(sdpa.logits, eager.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sdpa.loss, eager.loss, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_encoder_padding_does_not_change_results(mode, padding_side):
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    short = input_ids[-1:, attention_mask[-1].bool()]
    alone = forward(model, mode, short, torch.ones_like(short), labels[-1:])
    if padding_side == "left":
        shift = int((attention_mask[-1] == 0).sum())
        input_ids[-1] = input_ids[-1].roll(shift)
        attention_mask[-1] = attention_mask[-1].roll(shift)
    batched = forward(model, mode, input_ids, attention_mask, labels)
    torch.testing.assert_close(batched.logits[-1:], alone.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.per_sample_loss[-1:], alone.per_sample_loss, atol=1e-5, rtol=1e-5)


def test_attention_mask_defaults_to_non_padding_tokens():
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    explicit = forward(model, "ar", input_ids, attention_mask, labels)
    implicit = forward(model, "ar", input_ids, None, labels)
    torch.testing.assert_close(implicit.logits, explicit.logits)


@pytest.mark.parametrize("mode", MODES)
def test_loss_backward_reaches_every_parameter(mode):
    model = tiny_model().train()
    input_ids, attention_mask, labels = random_batch(model.config)
    model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, mode=mode).loss.backward()
    # NAR has no main stream, so it never reads the decoder's token embeddings, but the tied matrix still learns
    # through the encoder and the output projection.
    untouched = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert untouched == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_per_sample_and_label_smoothed_loss_match_direct_computation(mode, epsilon):
    model = tiny_model(label_smoothing=epsilon, ngram=1)
    input_ids, attention_mask, labels = random_batch(model.config)
    out = forward(model, mode, input_ids, attention_mask, labels, return_token_log_probs=True)
    # torch's label smoothing is the official formula: (1 - eps) * nll + eps / V * sum_v(-log p_v)
    token_loss = F.cross_entropy(
        out.logits.transpose(1, 2), labels, label_smoothing=epsilon, ignore_index=-100, reduction="none"
    )
    counted = labels.ne(-100)
    torch.testing.assert_close(out.per_sample_loss, token_loss.sum(1) / counted.sum(1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.loss, token_loss.sum() / counted.sum(), atol=1e-5, rtol=1e-5)
    log_probs = out.logits.log_softmax(-1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
    token_log_probs = out.token_log_probs[:, 0] if mode == "ngram" else out.token_log_probs  # (B, S, T) in ngram
    torch.testing.assert_close(token_log_probs, log_probs * counted, atol=1e-5, rtol=1e-5)


def test_num_items_in_batch_divides_the_summed_loss():
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    mean = forward(model, "nar", input_ids, attention_mask, labels).loss
    summed = forward(model, "nar", input_ids, attention_mask, labels, num_items_in_batch=1).loss
    torch.testing.assert_close(summed, mean * labels.ne(-100).sum(), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_checkpointing_gives_the_same_gradients(mode):
    model = tiny_model().train()
    input_ids, attention_mask, labels = random_batch(model.config)
    checkpointed = copy.deepcopy(model)
    checkpointed.activation_checkpointing_enable()
    assert checkpointed.is_activation_checkpointing
    for m in (model, checkpointed):
        m(input_ids=input_ids, attention_mask=attention_mask, labels=labels, mode=mode).loss.backward()
    for (name, p), q in zip(model.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-6, rtol=1e-5, msg=name)


# ---------------------------------------------------------------------------------------------------------------
# Saving, loading and errors
# ---------------------------------------------------------------------------------------------------------------


def test_saved_weights_get_the_permissions_of_a_plain_file(tmp_path):
    """safetensors writes the weights through a private temporary file (mode 0o600): `save_pretrained` gives them
    the mode of a plain new file (0o666 without the umask), like config.json, shards included; a replaced weight file
    keeps its mode, as a plain write would leave it."""
    umask = os.umask(0o027)
    try:
        tiny_model().save_pretrained(tmp_path / "one")
        tiny_model().save_pretrained(tmp_path / "sharded", max_shard_size="30KB")
    finally:
        os.umask(umask)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert modes["one/model.safetensors"] == modes["one/config.json"] == 0o640
    shards = [name for name in modes if name.startswith("sharded/model-")]
    assert len(shards) > 1 and {modes[name] for name in shards} == {0o640}
    os.chmod(tmp_path / "one" / "model.safetensors", 0o600)
    tiny_model().save_pretrained(tmp_path / "one")
    assert stat.S_IMODE((tmp_path / "one" / "model.safetensors").stat().st_mode) == 0o600


def test_save_and_reload_gives_identical_logits(tmp_path):
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin"))
    reloaded, info = BangForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert list(info["missing_keys"]) == [] and list(info["unexpected_keys"]) == [] and not info["mismatched_keys"]
    via_auto = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert isinstance(via_auto, BangForConditionalGeneration)
    for mode in MODES:
        expected = forward(model, mode, input_ids, attention_mask, labels).logits
        assert torch.equal(forward(reloaded.eval(), mode, input_ids, attention_mask, labels).logits, expected)
        assert torch.equal(forward(via_auto.eval(), mode, input_ids, attention_mask, labels).logits, expected)


def test_embeddings_and_output_projection_are_tied(tmp_path):
    model = tiny_model()
    shared = model.model.shared.weight
    assert model.lm_head.weight is shared
    assert model.model.encoder.embed_tokens.weight is shared and model.model.decoder.embed_tokens.weight is shared
    model.save_pretrained(tmp_path)
    reloaded = BangForConditionalGeneration.from_pretrained(tmp_path)
    assert reloaded.lm_head.weight is reloaded.model.shared.weight


def test_unknown_mode_is_a_value_error():
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    with pytest.raises(ValueError, match="'semi'"):
        model(input_ids=input_ids, labels=labels, mode="semi")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_ids": torch.zeros(2, 0, dtype=torch.long)}, "empty"),
        ({"input_ids": torch.tensor([[5, 6, 2], [0, 0, 0]])}, r"rows \[1\]"),
        ({"input_ids": torch.full((1, 70), 5)}, "70 tokens"),
        ({"input_ids": torch.tensor([[5, 120, 2]])}, "token id 120"),
    ],
)
def test_bad_source_is_a_clear_value_error(kwargs, message):
    model = tiny_model()
    with pytest.raises(ValueError, match=message):
        model(labels=torch.tensor([[5, 2]] * kwargs["input_ids"].shape[0]), mode="ar", **kwargs)


def test_too_long_target_and_missing_canvas_are_clear_value_errors():
    model = tiny_model()
    input_ids = torch.tensor([[5, 6, 2]])
    with pytest.raises(ValueError, match="65 target positions"):
        model(input_ids=input_ids, labels=torch.full((1, 65), 5), mode="ar")
    with pytest.raises(ValueError, match="canvas_length"):
        model(input_ids=input_ids, mode="nar")
    with pytest.raises(ValueError, match="cache is only supported"):
        model(
            input_ids=input_ids,
            mode="nar",
            canvas_length=3,
            cache=model(input_ids=input_ids, decoder_input_ids=torch.tensor([[2]]), use_cache=True, mode="ar").cache,
        )


def test_config_presets_and_validation():
    base = BangConfig.from_preset("bang-base")
    shape = (base.hidden_size, base.encoder_layers, base.decoder_layers, base.encoder_attention_heads)
    assert shape == (768, 6, 6, 12)
    decoder = BangForConditionalGeneration(BangConfig.from_preset("bang-base", encoder_layers=1, decoder_layers=1))
    assert decoder.model.encoder.embed_positions.weight.shape == (513, 768)
    assert decoder.model.decoder.embed_positions.weight.shape == (514, 768)
    assert tiny_config().hidden_size == 16
    with pytest.raises(ValueError, match="Unknown preset"):
        BangConfig.from_preset("large")


def test_encoder_sample_index_scores_several_targets_per_source_with_one_encoder_pass():
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    index = torch.tensor([0, 0, 2, 1, 2])
    targets = torch.cat([labels, labels[:2].flip(0)])
    with torch.no_grad():
        shared = model(
            input_ids=input_ids, attention_mask=attention_mask, labels=targets, encoder_sample_index=index, mode="nar"
        )
        repeated = model(input_ids=input_ids[index], attention_mask=attention_mask[index], labels=targets, mode="nar")
    torch.testing.assert_close(shared.logits, repeated.logits)
    torch.testing.assert_close(shared.per_sample_loss, repeated.per_sample_loss)
    with pytest.raises(ValueError, match="encoder_sample_index"):
        model(input_ids=input_ids, labels=targets[:1], encoder_sample_index=torch.tensor([3]), mode="nar")


@pytest.mark.parametrize("mode", ["ar", "ngram"])
def test_skipping_the_last_layers_main_stream_changes_no_predicting_state(mode):
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
    kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids, mode=mode)
    kwargs["output_predict_streams"] = True
    with torch.no_grad():
        full = model.model(**kwargs)
        skipped = model.model(**kwargs, return_main_stream=False)
        with_states = model.model(**kwargs, return_main_stream=False, output_hidden_states=True)
    assert full.last_hidden_state is not None and skipped.last_hidden_state is None
    torch.testing.assert_close(skipped.predict_hidden_state, full.predict_hidden_state, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(with_states.last_hidden_state, full.last_hidden_state)  # hidden states need it
