"""One-pass non-autoregressive (NAR) decoding for BANG models, as a transformers `custom_generate` method.

    model.generate(input_ids, attention_mask=mask, custom_generate=REPO_OR_FOLDER, trust_remote_code=True,
                   max_new_tokens=30)

BANG (Qi et al., ICML 2021) decodes NAR in one pass: the encoder reads the source once, the decoder reads a canvas of
`max_new_tokens` mask positions once in its `"nar"` flow, and the argmax at every position is the output, read up to
the first `[SEP]` by the official post-processing. transformers calls `generate(model=..., **arguments of
model.generate)` below; it runs that pass with the model's own `forward(..., mode="nar", canvas_length=...)` and
post-processes with `nar_canvas_to_sequences` of the `generation_bang` module that ships next to the model's
modeling file, so the result is exactly that of `model.generate(..., decoding_mode="nar")` with the same canvas.

This method's choices: the canvas always has `max_new_tokens` positions (the generation config's `max_new_tokens`,
else its `max_length - 1`); a model whose forward lacks BANG's `"nar"` flow is refused with a TypeError; every
argument that only makes sense for autoregressive decoding (beams, sampling, logits processors, ...) or that this
method does not read is refused with a ValueError naming it, instead of being ignored.
"""

import importlib
import inspect

import torch
from transformers.generation.utils import GenerateEncoderDecoderOutput


# Arguments of `GenerationMixin.generate` that only drive autoregressive decoding: refused unless None.
AR_ONLY_ARGUMENTS = (
    "logits_processor",
    "stopping_criteria",
    "prefix_allowed_tokens_fn",
    "assistant_model",
    "streamer",
    "negative_prompt_ids",
    "negative_prompt_attention_mask",
)
# Generation settings whose only meaningful value here is greedy, single-sequence decoding.
GREEDY_ONLY_SETTINGS = {"num_beams": 1, "do_sample": False, "num_return_sequences": 1}
# Generation settings this method reads, from the call or else from the generation config.
READ_SETTINGS = (
    "max_length",
    "decoder_start_token_id",
    "return_dict_in_generate",
    "output_scores",
    "output_logits",
)


def bang_generation_module(model):
    """The `generation_bang` module that sits next to the module defining the model's class.

    For a model of the installed package that is `modeling_bang.generation_bang`; for a model loaded with
    `trust_remote_code=True` it is the `generation_bang` remote-code module that transformers copied next to
    `modeling_bang.py` under `transformers_modules`. Raises a TypeError for any model that is not BANG.
    """
    name = type(model).__name__
    if getattr(getattr(model, "config", None), "model_type", None) != "bang":
        raise TypeError(
            f"This custom_generate method decodes BANG models only (config.model_type 'bang'), got {name} "
            f"with model_type {getattr(getattr(model, 'config', None), 'model_type', None)!r}."
        )
    parameters = inspect.signature(model.forward).parameters
    if "mode" not in parameters or "canvas_length" not in parameters:
        raise TypeError(f"{name}.forward does not accept `mode` and `canvas_length`: it has no BANG NAR flow.")
    for cls in type(model).__mro__:
        package, _, module_name = cls.__module__.rpartition(".")
        if module_name != "modeling_bang":
            continue
        sibling = f"{package}.generation_bang" if package else "generation_bang"
        try:
            module = importlib.import_module(sibling)
        except ImportError:
            continue
        if hasattr(module, "nar_canvas_to_sequences"):
            return module
    raise TypeError(
        f"No `generation_bang` module with `nar_canvas_to_sequences` sits next to the modeling module of {name} "
        f"({type(model).__module__}); this method reuses the model's own NAR post-processing."
    )


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def generate(
    model,
    input_ids: torch.LongTensor | None = None,
    attention_mask: torch.Tensor | None = None,
    max_new_tokens: int | None = None,
    collapse_repeats: bool = True,
    **kwargs,
) -> torch.LongTensor | GenerateEncoderDecoderOutput:
    """One encoder pass, one NAR decoder pass over `max_new_tokens` masks, argmax, official post-processing.

    Args:
        model: a BANG model (`BangForConditionalGeneration`, from the package or loaded as remote code).
        input_ids: (batch, source_length) source ids, `text [SEP]`, right- or left-padded. transformers passes
            `model.generate(ids, ...)`'s positional source as `inputs`, which is accepted too.
        attention_mask: (batch, source_length); default: the positions that are not `pad_token_id`.
        max_new_tokens: canvas length, i.e. the longest output; default: the generation config's
            `max_new_tokens`, else its `max_length - 1`.
        collapse_repeats: collapse consecutive duplicate tokens (the official post-processing does).
        kwargs: `return_dict_in_generate`, `output_scores`, `output_logits` (one (batch, vocab) tensor per canvas
            position), `decoder_start_token_id`, `max_length` and `generation_config` are read; `num_beams=1`,
            `do_sample=False`, `num_return_sequences=1`, `use_cache` and `synced_gpus` are accepted and change
            nothing. Anything else is refused with a ValueError.
    Returns:
        (batch, length) sequences `[start] tokens... [SEP]`, right-padded with `pad_token_id`, or a
        `GenerateEncoderDecoderOutput` with `return_dict_in_generate=True`.
    """
    generation = bang_generation_module(model)
    inputs = kwargs.pop("inputs", None)
    if inputs is not None:
        if input_ids is not None:
            raise ValueError("Pass the source either as `inputs` or as `input_ids`, not both.")
        input_ids = inputs
    if input_ids is None:
        raise ValueError("NAR decoding needs `input_ids` (the tokenized sources).")
    if not isinstance(input_ids, torch.Tensor):
        raise ValueError(f"`input_ids` must be a tensor of token ids, got {type(input_ids).__name__}.")
    if input_ids.dim() != 2 or input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        raise ValueError(
            f"`input_ids` must be a non-empty (batch, length) tensor, got shape {tuple(input_ids.shape)}."
        )
    if not isinstance(collapse_repeats, bool):
        raise ValueError(f"`collapse_repeats` must be a bool, got {collapse_repeats!r}.")

    generation_config = kwargs.pop("generation_config", None)
    if generation_config is None:
        generation_config = model.generation_config
    # BANG's own `generate` hands its AR flow's forward mode to transformers, which passes it on to this method.
    mode = kwargs.pop("mode", None)
    if mode not in (None, "ar"):
        raise ValueError(f"This method always runs the decoder in mode='nar'; got mode={mode!r}.")
    kwargs.pop("synced_gpus", None)  # each process decodes its own batch; no collective calls are made
    kwargs.pop("use_cache", None)  # one decoder pass: there is nothing to cache
    refused = [f"`{name}`" for name in AR_ONLY_ARGUMENTS if kwargs.pop(name, None) is not None]
    for name, allowed in GREEDY_ONLY_SETTINGS.items():
        value = kwargs.pop(name, None)
        if value is not None and value != allowed:
            refused.append(f"`{name}={value!r}`")
    if refused:
        raise ValueError(
            f"{', '.join(refused)}: not supported by one-pass NAR decoding, which takes the argmax at every position "
            "once (pass these to BANG's own generate with decoding_mode='ar')."
        )
    settings = {name: kwargs.pop(name, None) for name in READ_SETTINGS}
    unused = sorted(name for name, value in kwargs.items() if value is not None)
    if unused:
        raise ValueError(f"One-pass NAR decoding does not use the argument(s) {unused}; remove them.")
    for name, value in settings.items():
        if value is None:
            settings[name] = getattr(generation_config, name, None)

    if max_new_tokens is None:
        max_new_tokens = getattr(generation_config, "max_new_tokens", None)
    if max_new_tokens is None:
        if settings["max_length"] is None:
            raise ValueError(
                "Set `max_new_tokens` (the NAR canvas length): neither it nor `max_length` is set in the call or in "
                "the generation config."
            )
        max_new_tokens = _positive_int("max_length", settings["max_length"]) - 1
    canvas_length = _positive_int("max_new_tokens", max_new_tokens)
    limit = model.config.max_position_embeddings
    if canvas_length > limit:
        raise ValueError(
            f"`max_new_tokens={canvas_length}` asks for more target positions than the model has "
            f"(max_position_embeddings={limit})."
        )
    if attention_mask is None:
        attention_mask = input_ids.ne(model.config.pad_token_id).long()
    start = settings["decoder_start_token_id"]
    if start is None:
        start = model.config.decoder_start_token_id

    with torch.no_grad():
        logits = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            mode="nar",
            canvas_length=canvas_length,
            use_cache=False,
        ).logits
    sequences = generation.nar_canvas_to_sequences(
        logits.argmax(-1),
        decoder_start_token_id=start,
        sep_token_id=model.config.eos_token_id,
        pad_token_id=model.config.pad_token_id,
        cls_token_id=getattr(model.config, "cls_token_id", None),
        collapse_repeats=collapse_repeats,
    )
    if not settings["return_dict_in_generate"]:
        return sequences
    per_position = tuple(logits.unbind(1))
    return GenerateEncoderDecoderOutput(
        sequences=sequences,
        scores=per_position if settings["output_scores"] else None,
        logits=per_position if settings["output_logits"] else None,
    )
