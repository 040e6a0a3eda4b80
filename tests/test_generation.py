"""`generate` in the three decoding modes: AR (transformers' own loop), one-pass NAR and blockwise semi-NAR."""

import json

import pytest
import torch
from transformers import GenerationConfig, Seq2SeqTrainer, Seq2SeqTrainingArguments

from bang_spmd.evaluation.decoding import decode_outputs
from modeling_bang import BangForConditionalGeneration
from modeling_bang.generation_bang import BangGenerationOptions, collapse_repeated_words, postprocess_nar_tokens

from .helpers import load_example, random_batch, tiny_model, tiny_tokenizer


def lively_model(**overrides) -> BangForConditionalGeneration:
    """A tiny model with weights large enough that its generations depend on the input."""
    return tiny_model(init_std=0.3, **overrides)


def source_batch(model, batch: int = 3, seed: int = 1):
    input_ids, attention_mask, _ = random_batch(model.config, batch=batch, seed=seed)
    return input_ids, attention_mask


def strip_padding(row: torch.Tensor, pad: int) -> list[int]:
    ids = row.tolist()
    while len(ids) > 1 and ids[-1] == pad:
        ids.pop()
    return ids


def greedy_reference(model, input_ids, attention_mask, max_new_tokens: int) -> torch.Tensor:
    """Greedy AR decoding written out by hand: full teacher-forced forward, argmax of the last position."""
    config = model.config
    sequences = torch.full((input_ids.shape[0], 1), config.decoder_start_token_id)
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool)
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                decoder_input_ids=sequences,
                mode="ar",
                use_cache=False,
            ).logits
            next_token = logits[:, -1].argmax(-1).masked_fill(finished, config.pad_token_id)
            sequences = torch.cat([sequences, next_token[:, None]], dim=1)
            finished |= next_token.eq(config.eos_token_id)
            if finished.all():
                break
    return sequences


def test_nar_generate_is_one_forward_argmax_then_official_postprocessing():
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    config = model.config
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask, mode="nar", canvas_length=7).logits
    for collapse in (True, False):
        out = model.generate(
            input_ids,
            attention_mask=attention_mask,
            decoding_mode="nar",
            max_new_tokens=7,
            nar_collapse_repeats=collapse,
            return_dict_in_generate=True,
            output_scores=True,
        )
        assert len(out.scores) == 7
        assert torch.equal(torch.stack(out.scores, dim=1), logits)
        for row, canvas in zip(out.sequences, logits.argmax(-1), strict=True):
            kept = postprocess_nar_tokens(
                canvas, config.eos_token_id, config.cls_token_id, config.pad_token_id, collapse
            )
            ids = strip_padding(row, config.pad_token_id)
            assert ids[0] == config.decoder_start_token_id
            body = ids[1:-1] if ids[-1] == config.eos_token_id and len(ids) > 1 + len(kept) else ids[1:]
            assert body == kept


def test_nar_eos_penalty_lowers_the_sep_scores_before_the_argmax():
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    sep = model.config.eos_token_id
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask, mode="nar", canvas_length=7).logits
    settings = {"attention_mask": attention_mask, "decoding_mode": "nar", "max_new_tokens": 7}
    assert torch.equal(
        model.generate(input_ids, nar_eos_penalty=0.0, **settings), model.generate(input_ids, **settings)
    )
    penalty = float(logits.max() - logits.min()) + 1.0  # [SEP] can then never be an argmax
    penalised = logits.clone()
    penalised[..., sep] -= penalty
    out = model.generate(input_ids, nar_eos_penalty=penalty, nar_collapse_repeats=False, **settings)
    for row, canvas in zip(out, penalised.argmax(-1), strict=True):
        assert sep not in canvas.tolist()
        assert strip_padding(row, model.config.pad_token_id)[1:] == canvas.tolist()  # the whole canvas is kept


def test_nar_canvas_can_follow_the_padded_source_length():
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    out = model.generate(
        input_ids,
        attention_mask=attention_mask,
        decoding_mode="nar",
        nar_canvas="source_length",
        return_dict_in_generate=True,
        output_logits=True,
    )
    assert len(out.logits) == input_ids.shape[1]
    assert out.sequences.shape[1] <= input_ids.shape[1] + 2


def test_ar_greedy_with_cache_equals_without_cache_and_the_hand_written_loop():
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    settings = {"attention_mask": attention_mask, "max_new_tokens": 12, "do_sample": False, "num_beams": 1}
    cached = model.generate(input_ids, use_cache=True, **settings)
    uncached = model.generate(input_ids, use_cache=False, **settings)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, greedy_reference(model, input_ids, attention_mask, 12))


def test_ar_uses_mode_ar_whatever_the_config_default_mode():
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    expected = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=8)
    model.config.default_mode = "nar"
    assert torch.equal(model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=8), expected)


def test_beam_search_on_a_padded_batch_of_three_matches_each_example_alone():
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    settings = {"num_beams": 3, "length_penalty": 1.2, "max_new_tokens": 10, "no_repeat_ngram_size": 3}
    batched = model.generate(input_ids, attention_mask=attention_mask, **settings)
    assert batched.shape[0] == 3
    for i in range(3):
        real = attention_mask[i].bool()
        alone = model.generate(input_ids[i : i + 1, real], **settings)
        assert strip_padding(batched[i], 0) == strip_padding(alone[0], 0), i


def test_ar_supports_scores_and_several_return_sequences():
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    out = model.generate(
        input_ids,
        attention_mask=attention_mask,
        num_beams=3,
        num_return_sequences=2,
        max_new_tokens=5,
        return_dict_in_generate=True,
        output_scores=True,
    )
    assert out.sequences.shape[0] == 6 and out.sequences_scores.shape == (6,)


@pytest.mark.parametrize("min_new_tokens", [None, 12])
def test_semi_nar_with_one_stream_is_greedy_ar_token_for_token(min_new_tokens):
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    settings = {"attention_mask": attention_mask, "max_new_tokens": 12, "min_new_tokens": min_new_tokens}
    greedy = model.generate(input_ids, **settings)
    semi = model.generate(input_ids, decoding_mode="semi_nar", semi_nar_block_size=1, **settings)
    assert torch.equal(semi, greedy)
    if min_new_tokens:
        assert semi.shape[1] == 13


@pytest.mark.parametrize("block_size", [2, 3])
def test_semi_nar_block_step_equals_the_ngram_streams_on_the_same_prefix(block_size):
    """Stream s proposes y_{n+s+1} exactly as the teacher-forced n-stream decoder predicts it at position n + s."""
    model = lively_model(ngram=3)
    input_ids, attention_mask = source_batch(model)
    prefix = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=8, min_new_tokens=8)  # (B, 9)
    n = 5  # main stream [SEP] y1..y5; proposals for y6..y_{5+k}
    with torch.no_grad():
        encoder_states = model.model.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        block = model.model.decoder(
            "ar",
            encoder_states,
            encoder_attention_mask=attention_mask,
            input_ids=prefix[:, : n + 1],
            use_cache=True,
            num_proposals=block_size,
        )
        block_logits = model.lm_head(block.predict_hidden_state[:, :, 0])  # (B, k, V)
        ngram = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=prefix[:, : n + block_size],
            mode="ngram",
        ).predict_logits  # (B, 3, T, V)
    for s in range(block_size):
        torch.testing.assert_close(block_logits[:, s], ngram[:, s, n + s], atol=1e-5, rtol=1e-5)


def test_semi_nar_decodes_k_tokens_per_pass_and_stops_after_sep():
    model = lively_model(ngram=4)  # a block of k tokens needs k predicting streams
    input_ids, attention_mask = source_batch(model)
    out = model.generate(
        input_ids,
        attention_mask=attention_mask,
        decoding_mode="semi_nar",
        semi_nar_block_size=4,
        max_new_tokens=10,
        return_dict_in_generate=True,
        output_scores=True,
    )
    assert out.sequences.shape[1] - 1 == len(out.scores) <= 10
    eos, pad = model.config.eos_token_id, model.config.pad_token_id
    for row in out.sequences:
        ids = row.tolist()[1:]
        if eos in ids:
            assert all(t == pad for t in ids[ids.index(eos) + 1 :])


@pytest.mark.parametrize(
    "settings",
    [
        {"decoding_mode": "ar"},
        {"decoding_mode": "ar", "num_beams": 2},
        {"decoding_mode": "nar"},
        {"decoding_mode": "semi_nar", "semi_nar_block_size": 2},
        {"decoding_mode": "semi_nar", "semi_nar_block_size": 3, "min_new_tokens": 9},
    ],
)
def test_each_example_decodes_the_same_alone_as_inside_a_padded_batch(settings):
    model = lively_model(ngram=3)
    input_ids, attention_mask = source_batch(model)
    batched = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=9, **settings)
    for i in range(input_ids.shape[0]):
        real = attention_mask[i].bool()
        alone = model.generate(input_ids[i : i + 1, real], max_new_tokens=9, **settings)
        assert strip_padding(batched[i], 0) == strip_padding(alone[0], 0), (settings, i)


def test_decoding_mode_and_options_come_from_the_generation_config(tmp_path):
    model = lively_model(ngram=3)
    input_ids, attention_mask = source_batch(model)
    expected = model.generate(
        input_ids, attention_mask=attention_mask, decoding_mode="semi_nar", semi_nar_block_size=3, max_new_tokens=6
    )
    model.generation_config.decoding_mode = "semi_nar"
    model.generation_config.semi_nar_block_size = 3
    model.generation_config.max_new_tokens = 6
    assert torch.equal(model.generate(input_ids, attention_mask=attention_mask), expected)

    model.save_pretrained(tmp_path)
    reloaded = BangForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.generation_config.decoding_mode == "semi_nar"
    assert reloaded.generation_config.semi_nar_block_size == 3
    assert torch.equal(reloaded.generate(input_ids, attention_mask=attention_mask), expected)


def test_custom_fields_survive_a_config_built_from_the_model_config(tmp_path):
    """A generation config marked `_from_model_config` drops custom fields on reload unless the flag is cleared."""
    model = lively_model()
    flagged = GenerationConfig.from_model_config(model.config)
    assert flagged._from_model_config
    BangGenerationOptions(decoding_mode="nar", nar_canvas="source_length", semi_nar_block_size=4).write_to(flagged)
    flagged.save_pretrained(tmp_path)
    loaded = GenerationConfig.from_pretrained(tmp_path)
    options = BangGenerationOptions.resolve(loaded, {})
    assert (options.decoding_mode, options.nar_canvas, options.semi_nar_block_size) == ("nar", "source_length", 4)


@pytest.mark.parametrize("mode", ["ar", "nar", "semi_nar"])
def test_seq2seq_trainer_predict_with_generate_passes_whole_batches(tmp_path, mode):
    model = lively_model()
    input_ids, attention_mask, labels = random_batch(model.config, batch=4)
    rows = [
        {"input_ids": i, "attention_mask": a, "labels": y, "sample_weight": torch.tensor(1.0)}
        for i, a, y in zip(input_ids, attention_mask, labels, strict=True)
    ]

    def collate(features):
        batch = {k: torch.stack([f[k] for f in features]) for k in features[0]}
        batch["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(batch["labels"])
        return batch

    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=4,
        predict_with_generate=True,
        remove_unused_columns=False,
        report_to=[],
        use_cpu=True,
    )
    trainer = Seq2SeqTrainer(model=model, args=args, data_collator=collate)
    predictions = trainer.predict(rows, decoding_mode=mode, max_new_tokens=7).predictions
    expected = model.generate(input_ids, attention_mask=attention_mask, decoding_mode=mode, max_new_tokens=7)
    for got, want in zip(predictions, expected, strict=True):
        got = [t for t in got.tolist() if t != -100]
        assert strip_padding(torch.tensor(got), 0) == strip_padding(want, 0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"decoding_mode": "fast"}, "decoding_mode"),
        ({"decoding_mode": "nar", "nar_canvas": "target"}, "nar_canvas"),
        ({"decoding_mode": "nar", "nar_eos_penalty": -1.0}, "nar_eos_penalty"),
        ({"decoding_mode": "semi_nar", "semi_nar_block_size": 0}, "semi_nar_block_size"),
        ({"decoding_mode": "semi_nar", "semi_nar_acceptance": "most"}, "semi_nar_acceptance"),
        ({"max_new_tokens": 100}, "max_new_tokens=100"),
        ({"decoding_mode": "nar", "max_new_tokens": 65}, "max_new_tokens=65"),
        ({"decoding_mode": "semi_nar", "max_length": 80}, "max_length=80"),
        ({"decoding_mode": "nar", "num_beams": 4}, "num_beams=4"),
        ({"decoding_mode": "semi_nar", "do_sample": True}, "do_sample=True"),
        ({"decoding_mode": "nar", "stopping_criteria": []}, "stopping_criteria"),
        ({"decoding_mode": "nar", "nun_beams": 4}, "nun_beams"),
        ({"decoding_mode": "semi_nar", "length_penalty": 2.0}, "length_penalty"),
        ({"decoding_mode": "nar", "no_repeat_ngram_size": 3}, "no_repeat_ngram_size"),
    ],
)
def test_bad_generation_settings_raise_a_clear_error(settings, message):
    model = lively_model()
    input_ids, attention_mask = source_batch(model)
    with pytest.raises(ValueError, match=message):
        model.generate(input_ids, attention_mask=attention_mask, **settings)


@pytest.mark.parametrize("mode", ["ar", "nar", "semi_nar"])
def test_empty_input_is_refused(mode):
    model = lively_model()
    with pytest.raises(ValueError, match=r"empty: shape \(1, 0\)"):
        model.generate(torch.zeros(1, 0, dtype=torch.long), decoding_mode=mode, max_new_tokens=4)


def save_for_evaluation(model, folder):
    """Saves `model` with the tiny tokenizer as `folder/model` and two wndef-style rows as `folder/data.jsonl`;
    returns the tokenizer."""
    tokenizer = tiny_tokenizer()
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    rows = [
        {"word": "5 6", "example": "7 8 9", "definition": "10 11"},
        {"word": "12", "example": "", "definition": "13"},
    ]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tokenizer


@pytest.mark.parametrize("mode", ["ar", "nar", "semi_nar"])
def test_evaluate_generation_script_scores_every_mode_against_the_raw_targets(tmp_path, mode):
    model = lively_model()
    tokenizer = save_for_evaluation(model, tmp_path)
    script = load_example("cli.evaluate")
    argv = ["--model", str(tmp_path / "model"), "--data_file", str(tmp_path / "data.jsonl"), "--device", "cpu"]
    argv += ["--decoding_mode", mode, "--max_new_tokens", "5", "--output_file", str(tmp_path / "out.jsonl")]
    result = script.main(argv)
    assert result["samples"] == 2 and result["ms_per_sample"] > 0 and 0 <= result["rougeL_f1"] <= 100
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [w["reference"] for w in written] == ["10 11", "13"]
    expected = model.generate(
        torch.tensor([tokenizer("5 6", "7 8 9")["input_ids"]]), decoding_mode=mode, max_new_tokens=5
    )
    text = decode_outputs(tokenizer, expected, keep_unk=mode == "nar")[0]  # NAR keeps [UNK], as officially
    assert written[0]["prediction"] == (collapse_repeated_words(text) if mode == "nar" else text)  # AR: as decoded


@pytest.mark.parametrize(("acceptance", "threshold"), [("verify", None), ("confidence", 1.0), ("confidence", 0.0)])
def test_evaluate_script_decodes_lossless_and_confidence_semi_nar(tmp_path, acceptance, threshold):
    """`bang-evaluate --semi_nar_acceptance verify` (and `confidence` at threshold 1) write greedy AR's output;
    `--semi_nar_confidence` outside semi-NAR is refused."""
    model = lively_model(ngram=2)
    save_for_evaluation(model, tmp_path)
    script = load_example("cli.evaluate")
    base = ["--model", str(tmp_path / "model"), "--data_file", str(tmp_path / "data.jsonl"), "--device", "cpu"]
    base += ["--max_new_tokens", "6", "--batch_size", "1"]
    script.main([*base, "--decoding_mode", "ar", "--output_file", str(tmp_path / "ar.jsonl")])
    argv = [*base, "--decoding_mode", "semi_nar", "--semi_nar_acceptance", acceptance]
    argv += ["--output_file", str(tmp_path / "semi.jsonl")]
    script.main(argv + (["--semi_nar_confidence", str(threshold)] if threshold is not None else []))
    semi = [json.loads(line)["prediction"] for line in (tmp_path / "semi.jsonl").read_text().splitlines()]
    ar = [json.loads(line)["prediction"] for line in (tmp_path / "ar.jsonl").read_text().splitlines()]
    if threshold != 0.0:
        assert semi == ar
    with pytest.raises(ValueError, match="--semi_nar_confidence"):
        script.main([*base, "--decoding_mode", "ar", "--semi_nar_confidence", "0.5"])
