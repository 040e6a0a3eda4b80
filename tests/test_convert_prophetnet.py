"""ProphetNet -> BANG conversion: BANG's AR mode must reproduce ProphetNet's first predicting stream exactly.

transformers 5.23's `ProphetNetNgramSelfAttention.get_predict_relative_pos_embeddings` pairs the predicting-stream
relative logits with buckets in different orders (values as (batch, time, ngram, head), buckets as
(ngram, batch, head, time)); the official fairseq `ngram_relative_logits` uses one order. The peer is patched with
the official ordering below, in both of HF's branches: buckets passed in (teacher forcing) and buckets computed by the
method itself (`predict_relative_position_buckets=None`, cached incremental generation), the latter exactly as HF's
own None branch computes them. See `tests/test_modeling_bang.py::test_ar_matches_hf_prophetnet_with_one_stream`.
"""

import json
import types

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, ProphetNetConfig, ProphetNetForConditionalGeneration
from transformers.models.prophetnet.modeling_prophetnet import compute_relative_buckets as prophetnet_buckets

from modeling_bang import BangForConditionalGeneration
from modeling_bang.convert_prophetnet_to_bang import convert_prophetnet_to_bang, main

from .helpers import random_batch


def tiny_prophetnet(
    ngram: int, seed: int = 0, pad_token_id: int = 0, **overrides
) -> ProphetNetForConditionalGeneration:
    """A random tiny ProphetNet; a large init_std makes the generations depend on the source."""
    torch.manual_seed(seed)
    settings = {
        "vocab_size": 99,
        "hidden_size": 16,
        "encoder_ffn_dim": 37,
        "decoder_ffn_dim": 29,
        "num_encoder_layers": 2,
        "num_decoder_layers": 2,  # HF ProphetNet sizes its cache by the encoder layers
        "num_encoder_attention_heads": 4,
        "num_decoder_attention_heads": 2,
        "max_position_embeddings": 40,
        "ngram": ngram,
        "num_buckets": 8,
        "relative_max_distance": 16,
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "init_std": 0.3,
        "eps": 0.1,
        "pad_token_id": pad_token_id,
        "bos_token_id": 1 if pad_token_id != 1 else 3,
        "eos_token_id": 2,
        "decoder_start_token_id": 2,
    }
    return ProphetNetForConditionalGeneration(ProphetNetConfig(**{**settings, **overrides})).eval()


def official_predict_relative(self, hidden_states, attn_weights, position_ids, buckets):
    """`get_predict_relative_pos_embeddings` with the official (ngram, batch, head, time) pairing.

    hidden_states: (batch, time, ngram, hidden); buckets: (batch, time, keys), or None in cached decoding, where they
    are computed as HF's own None branch does (keys at relative positions 0 .. K-1 minus the query position).
    """
    batch, length, ngram, _ = hidden_states.shape
    if buckets is None:
        keys = attn_weights.shape[-1]
        relative = torch.arange(0, keys, device=position_ids.device)[None, None].repeat(batch, length, 1)
        relative = relative - position_ids.unsqueeze(0).repeat(batch, length, 1)
        buckets = prophetnet_buckets(self.num_buckets, self.relative_max_distance, relative, False)
    values = self.relative_pos_embeddings(hidden_states).view(
        batch, length, ngram, self.num_buckets, self.num_attn_heads
    )
    values = values.permute(0, 2, 4, 1, 3)  # (batch, ngram, head, time, bucket)
    index = buckets.long()[:, None, None].expand(batch, ngram, self.num_attn_heads, length, buckets.shape[-1])
    return values.gather(-1, index)


def patch_official_ordering(prophet: ProphetNetForConditionalGeneration) -> ProphetNetForConditionalGeneration:
    for layer in prophet.prophetnet.decoder.layers:
        layer.self_attn.get_predict_relative_pos_embeddings = types.MethodType(
            official_predict_relative, layer.self_attn
        )
    return prophet


def batch_for(config, seed: int = 1):
    input_ids, attention_mask, labels = random_batch(config, batch=3, source_len=9, target_len=7, seed=seed)
    labels = labels.masked_fill(labels.eq(-100), config.eos_token_id)
    decoder_input_ids = torch.cat([torch.full_like(labels[:, :1], config.decoder_start_token_id), labels[:, :-1]], 1)
    return input_ids, attention_mask, decoder_input_ids


def assert_same_predictions(prophet, bang: BangForConditionalGeneration) -> None:
    patch_official_ordering(prophet)
    input_ids, attention_mask, decoder_input_ids = batch_for(bang.config)
    with torch.no_grad():
        expected = prophet(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        got = bang(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids, mode="ar")
    torch.testing.assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)

    settings = {"num_beams": 1, "do_sample": False, "max_new_tokens": 8}
    with torch.no_grad():
        expected_ids = prophet.generate(input_ids=input_ids, attention_mask=attention_mask, **settings)
        got_ids = bang.generate(input_ids=input_ids, attention_mask=attention_mask, **settings)
    assert torch.equal(got_ids, expected_ids), (got_ids, expected_ids)
    assert len({tuple(row) for row in got_ids.tolist()}) > 1  # the generations depend on the source


@pytest.mark.parametrize("ngram", [1, 2])
def test_converted_prophetnet_gives_the_first_stream_logits_and_generations(ngram):
    prophet = tiny_prophetnet(ngram)
    bang = convert_prophetnet_to_bang(prophet)
    config = bang.config
    assert (config.max_position_embeddings, config.ngram, config.label_smoothing) == (38, 1, 0.1)
    assert (config.encoder_attention_heads, config.decoder_attention_heads, config.decoder_ffn_dim) == (4, 2, 29)
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id, config.decoder_start_token_id) == (
        0,
        1,
        2,
        2,
    )
    source = prophet.prophetnet
    assert torch.equal(bang.model.decoder.predict_input_embedding, source.decoder.ngram_embeddings.weight[ngram - 1])
    assert torch.equal(bang.model.encoder.embed_positions.weight, source.encoder.position_embeddings.weight[:39])
    assert torch.equal(bang.model.decoder.embed_positions.weight, source.decoder.position_embeddings.weight)
    assert bang.generation_config.num_beams == 4 and bang.generation_config.length_penalty == 1.2
    assert_same_predictions(prophet, bang)


def test_prophetnet_first_stream_reads_the_last_ngram_embedding_row():
    """HF ProphetNet's stream i reads `ngram_embeddings[i - 1]`: changing any other row leaves stream 0 unchanged.

    Unpatched, transformers 5.23 mixes the streams' relative logits, so stream 0 would also depend on the others.
    """
    prophet = patch_official_ordering(tiny_prophetnet(ngram=3))
    input_ids, attention_mask, decoder_input_ids = batch_for(prophet.config)

    def first_stream_logits():
        with torch.no_grad():
            return prophet(
                input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
            ).logits

    before = first_stream_logits()
    with torch.no_grad():
        prophet.prophetnet.decoder.ngram_embeddings.weight[:2] += torch.randn(2, 16)  # not a constant: LayerNorm
    torch.testing.assert_close(first_stream_logits(), before, atol=1e-6, rtol=0)
    with torch.no_grad():
        prophet.prophetnet.decoder.ngram_embeddings.weight[2] += torch.randn(16)
    assert (first_stream_logits() - before).abs().max() > 1e-2


def test_conversion_from_a_saved_folder_and_cli(tmp_path, capsys):
    prophet = tiny_prophetnet(ngram=2, seed=3)
    prophet.save_pretrained(tmp_path / "prophetnet")
    bang = convert_prophetnet_to_bang(str(tmp_path / "prophetnet"))
    assert_same_predictions(prophet, bang)

    out = tmp_path / "bang"
    argv = [str(tmp_path / "prophetnet"), str(out), "--tokenizer", "none", "--set", "ngram=2"]
    assert main(argv) == 0
    assert "Converted" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_bang.BangForConditionalGeneration"
    assert config["ngram"] == 2 and (out / "modeling_bang.py").is_file()
    assert json.loads((out / "generation_config.json").read_text())["num_beams"] == 4
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(out, trust_remote_code=True).eval()
    for key, tensor in bang.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], tensor), key
    with pytest.raises(SystemExit) as exit_info:  # the folder is not empty any more
        main(argv)
    assert exit_info.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    with pytest.raises(SystemExit) as exit_info:  # BANG's bert-base-uncased tokenizer does not fit 99 tokens
        main([str(tmp_path / "prophetnet"), str(tmp_path / "other"), "--tokenizer", "bang"])
    assert exit_info.value.code == 2 and "30522 tokens" in capsys.readouterr().err
    assert main([str(tmp_path / "prophetnet"), str(tmp_path / "third")]) == 0  # source has no tokenizer: warning only
    assert "no tokenizer files" in capsys.readouterr().err
    assert not (tmp_path / "third" / "tokenizer_config.json").exists()


def test_nonzero_pad_id_shifts_the_position_tables():
    """ProphetNet numbers positions from pad_token_id + 1; BANG from 1 (teacher forcing only: HF ProphetNet's cached
    path assumes pad id 0)."""
    prophet = patch_official_ordering(tiny_prophetnet(ngram=1, pad_token_id=1))
    bang = convert_prophetnet_to_bang(prophet)
    assert bang.config.max_position_embeddings == 40 - 1 - 2
    assert torch.equal(
        bang.model.decoder.embed_positions.weight, prophet.prophetnet.decoder.position_embeddings.weight[1:]
    )
    input_ids, attention_mask, decoder_input_ids = batch_for(bang.config)
    with torch.no_grad():
        expected = prophet(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        got = bang(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids, mode="ar")
    torch.testing.assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)


def test_untied_output_projection_and_bad_inputs_are_refused(tmp_path):
    prophet = tiny_prophetnet(ngram=1, tie_word_embeddings=False)
    with torch.no_grad():
        for side in (prophet.prophetnet.encoder, prophet.prophetnet.decoder):
            side.word_embeddings.weight.copy_(prophet.prophetnet.word_embeddings.weight)
        prophet.lm_head.weight.normal_()
    with pytest.raises(ValueError, match="`lm_head.weight`.*differs from `prophetnet.word_embeddings.weight`"):
        convert_prophetnet_to_bang(prophet)
    with pytest.raises(TypeError, match="ProphetNetForConditionalGeneration"):
        convert_prophetnet_to_bang(prophet.prophetnet)
    with pytest.raises(ValueError, match="contradicts"):
        convert_prophetnet_to_bang(tiny_prophetnet(ngram=1), {"hidden_size": 32})
    with pytest.raises(ValueError, match="Unknown BangConfig fields"):
        convert_prophetnet_to_bang(tiny_prophetnet(ngram=1), {"num_heads_typo": 3})
