"""Render a Hub model card (`README.md`) for a saved BANG model folder from its evaluation results.

`render_model_card` reads the folder's `config.json`, `generation_config.json` and weights header, checks the
evaluation result dicts (as printed by `bang-evaluate`, one per decoding mode) and fills one of the two Jinja
templates of this package with `huggingface_hub.ModelCard.from_template`. The YAML metadata is a
`huggingface_hub.ModelCardData`; its `model-index` holds one `EvalResult` per (decoding mode, quality metric).

This package's choices:

* metric keys are looked up in `KNOWN_METRICS` (result key -> display name and Hub metric type); a result dict needs
  at least one of them, with or without the `eval_` prefix the Trainer adds. Other keys are shown in the results
  table when they are in `RESULT_COLUMNS`, and ignored otherwise;
* the time per sample (`ms_per_sample`) is shown in the table with its device but is not put in the `model-index`:
  it depends on the hardware and the batch size, so it is not a property of the model that others can reproduce;
* `baselines` (results of other models, e.g. the NAR baseline or the AR teacher) appear in the table only, never in
  the `model-index`, which describes this model;
* the usage snippet shows a semi-NAR call (block size 2) only when `config.ngram >= 2`, since the semi-NAR decoder
  proposes one token per predicting stream.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id

from modeling_bang.generation_bang import DECODING_MODES


TEMPLATE_DIR = Path(__file__).resolve().parent
BASE_TEMPLATE = TEMPLATE_DIR / "bang_base_template.md"
FINETUNED_TEMPLATE = TEMPLATE_DIR / "bang_finetuned_template.md"

MODEL_TYPES = ("base", "teacher", "nar", "spmd")
ModelType = Literal["base", "teacher", "nar", "spmd"]

# result key -> (display name, Hub metric type). Values are taken as given (this package reports x 100 scores).
KNOWN_METRICS: dict[str, tuple[str, str]] = {
    "rougeL_f1": ("ROUGE-L F1", "rouge"),
    "rouge1_f1": ("ROUGE-1 F1", "rouge"),
    "rouge2_f1": ("ROUGE-2 F1", "rouge"),
    "rougeLsum_f1": ("ROUGE-Lsum F1", "rouge"),
    "bleu4": ("BLEU-4", "bleu"),
    "sacrebleu": ("SacreBLEU", "sacrebleu"),
    "meteor": ("METEOR", "meteor"),
    "bertscore_f1": ("BERTScore F1", "bertscore"),
}

# optional result keys shown in the results table, in this order: key -> column title
RESULT_COLUMNS: dict[str, str] = {
    "max_new_tokens": "max new tokens",
    "samples": "samples",
    "distinct_outputs": "distinct outputs",
    "ms_per_sample": "ms / sample",
    "device": "device",
    "step": "training step",
}

DATASET_KEYS = ("id", "name", "split", "config", "task")

MODEL_DESCRIPTIONS = {
    "base": "a pretrained BANG model (not fine-tuned for a task)",
    "teacher": "BANG fine-tuned for autoregressive (AR) decoding, the AR teacher of SPMD",
    "nar": "BANG fine-tuned for non-autoregressive (NAR) decoding on the gold targets (BANG's NAR baseline)",
    "spmd": "a non-autoregressive (NAR) BANG student trained with Self-Paced Mixed Distillation (SPMD)",
}
MODEL_TAGS = {
    "base": [],
    "teacher": ["autoregressive"],
    "nar": [],
    "spmd": ["spmd", "knowledge-distillation"],
}
DEFAULT_EXAMPLE_INPUTS = ["Replace this with a source text of the kind the model was trained on."]


def _number(value: Any, what: str, positive: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}.")
    if positive and value <= 0:
        raise ValueError(f"{what} must be > 0, got {value!r}.")
    return value


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}.")
    return value


def _cell(value: Any) -> str:
    """One markdown table cell: floats >= 1 with 2 decimals, smaller ones with 4 significant digits; `|` escaped."""
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:.2f}" if abs(value) >= 1 else f"{value:.4g}"
    elif isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return " ".join(text.split()).replace("|", "\\|") or "—"


def decoding_label(result: Mapping[str, Any]) -> str:
    """A short name of a result's decoding settings: `NAR`, `AR greedy`, `AR beam 4`, `semi-NAR k=2`."""
    mode = result["decoding_mode"]
    if mode == "nar":
        return "NAR"
    if mode == "semi_nar":
        block = result.get("semi_nar_block_size")
        return "semi-NAR" if block is None else f"semi-NAR k={block}"
    beams = result.get("num_beams", 1)
    label = "AR greedy" if beams == 1 else f"AR beam {beams}"
    penalty = result.get("length_penalty")
    if penalty is not None and beams > 1 and penalty != 1.0:
        label += f", length penalty {penalty:g}"
    return label


def _metric_value(result: Mapping[str, Any], key: str) -> Any:
    return result[key] if key in result else result.get(f"eval_{key}")


def check_result(result: Any, where: str) -> dict[str, Any]:
    """Checks one evaluation result dict and returns it with `label` (the decoding name) and `metrics` filled in.

    Needed: `decoding_mode` (one of `DECODING_MODES`) and at least one key of `KNOWN_METRICS` (optionally with the
    `eval_` prefix) holding a finite number. `num_beams`, `semi_nar_block_size` and `max_new_tokens` must be
    integers >= 1 when present, `ms_per_sample` a positive number.
    """
    if not isinstance(result, Mapping):
        raise ValueError(f"{where} must be a dict (an evaluation result), got {type(result).__name__}.")
    mode = result.get("decoding_mode")
    if mode not in DECODING_MODES:
        raise ValueError(f"{where} needs `decoding_mode` in {DECODING_MODES}, got {mode!r}.")
    for key in ("num_beams", "semi_nar_block_size", "max_new_tokens", "samples"):
        if result.get(key) is not None:
            _positive_int(result[key], f"{where}[{key!r}]")
    if result.get("ms_per_sample") is not None:
        _number(result["ms_per_sample"], f"{where}['ms_per_sample']", positive=True)
    if result.get("length_penalty") is not None:
        _number(result["length_penalty"], f"{where}['length_penalty']")
    metrics = {}
    for key in KNOWN_METRICS:
        value = _metric_value(result, key)
        if value is not None:
            metrics[key] = _number(value, f"{where}[{key!r}]")
    if not metrics:
        raise ValueError(
            f"{where} has no metric: it needs at least one of {list(KNOWN_METRICS)} (keys given: {sorted(result)})."
        )
    checked = dict(result)
    checked["label"] = str(result["label"]) if result.get("label") else decoding_label(result)
    checked["metrics"] = metrics
    return checked


def _check_results(results: Any, what: str, baseline: bool = False) -> list[dict[str, Any]]:
    if isinstance(results, Mapping | str) or not isinstance(results, Sequence):
        raise ValueError(f"`{what}` must be a list of evaluation result dicts, got {type(results).__name__}.")
    checked = []
    for i, result in enumerate(results):
        if baseline and not (isinstance(result, Mapping) and isinstance(result.get("model_label"), str)):
            raise ValueError(f"{what}[{i}] needs `model_label`, the name of the model shown in the results table.")
        checked.append(check_result(result, f"{what}[{i}]"))
    seen: dict[tuple[str, str], int] = {}
    for i, result in enumerate(checked):
        key = (result.get("model_label", ""), result["label"])
        if key in seen:
            raise ValueError(
                f"{what}[{seen[key]}] and {what}[{i}] both report {result['label']} decoding"
                + (f" of {key[0]}" if key[0] else "")
                + "; give one result per decoding setting (or distinct `label`s)."
            )
        seen[key] = i
    return checked


def _check_dataset(dataset: Any) -> dict[str, str]:
    if not isinstance(dataset, Mapping):
        raise ValueError(f"`dataset` must be a dict with keys {DATASET_KEYS}, got {type(dataset).__name__}.")
    unknown = sorted(set(dataset) - set(DATASET_KEYS))
    if unknown:
        raise ValueError(f"`dataset` has unknown key(s) {unknown}; allowed: {DATASET_KEYS}.")
    for key, value in dataset.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"`dataset[{key!r}]` must be a non-empty string, got {value!r}.")
    if not dataset.get("id") and not dataset.get("name"):
        raise ValueError("`dataset` needs `id` (the Hub data set id) or at least `name`.")
    checked = {k: v for k, v in dataset.items() if v is not None}
    checked.setdefault("name", checked.get("id"))
    checked.setdefault("split", "validation")
    return checked


def _check_training(training: Any) -> list[tuple[str, str]]:
    if not isinstance(training, Mapping) or not training:
        raise ValueError(
            "`training` must be a non-empty dict describing how the model was trained (steps, data, options), "
            f"got {training!r}."
        )
    bad = [k for k in training if not isinstance(k, str) or not k]
    if bad:
        raise ValueError(f"`training` keys must be non-empty strings, got {bad}.")
    return [(_cell(key), _cell(value)) for key, value in training.items()]


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(f"{path} is missing ({what}).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object.")
    return data


def count_parameters(model_dir: str | Path) -> int | None:
    """Number of stored parameters, read from the safetensors headers (no tensor is loaded); None without them."""
    model_dir = Path(model_dir)
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        files = sorted({model_dir / name for name in json.loads(index.read_text())["weight_map"].values()})
    else:
        files = [model_dir / "model.safetensors"]
    total = 0
    for file in files:
        if not file.is_file():
            return None
        with open(file, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return total


def _example_inputs(example_inputs: Any) -> tuple[str, str | None]:
    """Python literals of the snippet's source texts and, for pairs, second texts."""
    inputs = DEFAULT_EXAMPLE_INPUTS if example_inputs is None else example_inputs
    if isinstance(inputs, str) or not isinstance(inputs, Sequence) or not inputs:
        raise ValueError("`example_inputs` must be a non-empty list of texts or of (text, text_pair) pairs.")
    if all(isinstance(x, str) for x in inputs):
        return json.dumps(list(inputs), ensure_ascii=False), None
    if all(isinstance(x, Sequence) and not isinstance(x, str) and len(x) == 2 for x in inputs) and all(
        isinstance(t, str) for x in inputs for t in x
    ):
        first, second = zip(*inputs, strict=True)
        return json.dumps(list(first), ensure_ascii=False), json.dumps(list(second), ensure_ascii=False)
    raise ValueError("`example_inputs` must be a non-empty list of texts or of (text, text_pair) pairs.")


def _results_table(rows: list[dict[str, Any]], with_model_column: bool) -> tuple[list[str], list[list[str]]]:
    metric_keys = [k for k in KNOWN_METRICS if any(k in r["metrics"] for r in rows)]
    column_keys = [k for k in RESULT_COLUMNS if any(r.get(k) is not None for r in rows)]
    header = (["model"] if with_model_column else []) + ["decoding"]
    header += [KNOWN_METRICS[k][0] for k in metric_keys] + [RESULT_COLUMNS[k] for k in column_keys]
    body = []
    for r in rows:
        cells = [_cell(r.get("model_label", "this model"))] if with_model_column else []
        cells.append(_cell(r["label"]))
        cells += [_cell(r["metrics"].get(k)) for k in metric_keys]
        cells += [_cell(r.get(k)) for k in column_keys]
        body.append(cells)
    return header, body


def render_model_card(
    model_dir: str | Path,
    *,
    model_type: ModelType,
    results: list[dict[str, Any]],
    repo_id: str,
    dataset: dict[str, str],
    training: dict[str, Any],
    base_model: str | None = None,
    license: str = "mit",
    language: str | list[str] = "en",
    pipeline_tag: str = "text2text-generation",
    tags: Sequence[str] = (),
    baselines: list[dict[str, Any]] | None = None,
    missing_results_reason: str | None = None,
    example_inputs: list[str] | list[tuple[str, str]] | None = None,
    limitations: Sequence[str] = (),
    template_path: str | Path | None = None,
) -> ModelCard:
    """The model card of the saved BANG model in `model_dir`, to be published as `repo_id`.

    Args:
        model_dir: a folder written by `save_pretrained` (its `config.json` must be a BANG config).
        model_type: `base` (pretrained), `teacher` (AR fine-tuned), `nar` (NAR fine-tuned on gold targets) or
            `spmd` (NAR student trained with SPMD); picks the template, the description and the tags.
        results: this model's evaluation results, one dict per decoding setting, as printed by `bang-evaluate`
            (`decoding_mode`, a metric such as `rougeL_f1`, optionally `num_beams`, `semi_nar_block_size`,
            `max_new_tokens`, `samples`, `ms_per_sample`, `device`, `label`). May be empty only with
            `missing_results_reason`, which the card then states.
        repo_id: the Hub repository (`namespace/name`) the usage snippet loads.
        dataset: `id` (Hub data set id, put in the `datasets` metadata) and/or `name` (display name), `split`
            (default `validation`), optionally `config` and `task` (display name of the task).
        training: how the model was trained (steps, data, options), shown as a table in this order.
        base_model: the model this one was fine-tuned from (Hub id), if any.
        baselines: other models' results for the table only; each needs `model_label`.
        example_inputs: the snippet's source texts, or (text, text_pair) pairs for two-column sources.
        limitations: extra limitation sentences appended to the generated ones.
        template_path: a custom Jinja template instead of this package's.

    Raises:
        ValueError: naming the bad argument (unknown model type, empty results, a result without a metric, ...).
    """
    _check_identity(model_type, repo_id)
    checked_results = _check_results(results, "results")
    if not checked_results and not missing_results_reason:
        raise ValueError(
            "`results` is empty: pass at least one evaluation result dict (e.g. the JSON line printed by "
            "bang-evaluate), or say why there is none with `missing_results_reason`."
        )
    checked_baselines = _check_results(baselines or [], "baselines", baseline=True)
    data = _check_dataset(dataset)
    training_rows = _check_training(training)
    _check_sentences(tags, "tags")
    _check_sentences(limitations, "limitations")
    first_texts, pair_texts = _example_inputs(example_inputs)
    config, generation = _read_model_folder(Path(model_dir))
    ngram = int(config.get("ngram", 1))
    num_parameters = count_parameters(model_dir)

    model_name = repo_id.split("/")[-1]
    eval_results = _eval_results(checked_results, data, pipeline_tag)
    all_tags = ["bang", "non-autoregressive", "custom_code", *MODEL_TAGS[model_type]]
    all_tags += [t for t in tags if t not in all_tags]
    card_data = ModelCardData(
        language=language,
        license=license,
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        tags=all_tags,
        datasets=[data["id"]] if data.get("id") else None,
        base_model=base_model,
        metrics=sorted({e.metric_type for e in eval_results}) or None,
        model_name=model_name if eval_results else None,  # the model-index entry's name
        eval_results=eval_results or None,
    )

    rows = checked_results + checked_baselines
    header, body = _results_table(rows, with_model_column=bool(checked_baselines))
    devices = sorted({str(r["device"]) for r in rows if r.get("device")})
    template_kwargs = {
        "model_name": model_name,
        "repo_id": repo_id,
        "model_type": model_type,
        "model_description": MODEL_DESCRIPTIONS[model_type],
        "dataset_name": data["name"],
        "dataset_id": data.get("id"),
        "dataset_split": data["split"],
        "architecture_rows": _architecture_rows(config, generation, num_parameters),
        "training_rows": training_rows,
        "results_header": header,
        "results_rows": body,
        "missing_results_reason": missing_results_reason,
        "devices": devices,
        **_usage_variables(checked_results, config, generation, first_texts, pair_texts),
        "ngram": ngram,
        "default_decoding_mode": generation.get("decoding_mode", "ar"),
        "limitations": [*_limitations(model_type, data, rows, devices, num_parameters, ngram), *limitations],
    }
    if template_path is None:
        template_path = BASE_TEMPLATE if model_type == "base" else FINETUNED_TEMPLATE
    return ModelCard.from_template(card_data, template_path=str(template_path), **template_kwargs)


def _check_identity(model_type: Any, repo_id: Any) -> None:
    if model_type not in MODEL_TYPES:
        raise ValueError(f"Unknown model_type {model_type!r}; expected one of {MODEL_TYPES}.")
    if not isinstance(repo_id, str) or not repo_id:
        raise ValueError(f"`repo_id` must be a Hub repository id such as 'user/bang-wndef', got {repo_id!r}.")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"`repo_id` {repo_id!r} is not a valid Hub repository id: {error}") from error


def _check_sentences(texts: Any, what: str) -> None:
    if isinstance(texts, str) or not all(isinstance(t, str) and t for t in texts):
        raise ValueError(f"`{what}` must be a list of non-empty strings, got {texts!r}.")


def _read_model_folder(model_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The saved `config.json` (which must be a BANG config) and `generation_config.json` (empty when absent)."""
    config = _read_json(model_dir / "config.json", "the model configuration; save the model with save_pretrained")
    if config.get("model_type") != "bang":
        raise ValueError(f"{model_dir / 'config.json'} has model_type {config.get('model_type')!r}, not 'bang'.")
    generation = {}
    if (model_dir / "generation_config.json").is_file():
        generation = _read_json(model_dir / "generation_config.json", "the generation configuration")
    return config, generation


def _eval_results(results: list[dict[str, Any]], data: dict[str, str], task_type: str) -> list[EvalResult]:
    """The `model-index`: one `EvalResult` per (result, quality metric) of this model."""
    return [
        EvalResult(
            task_type=task_type,
            task_name=data.get("task"),
            dataset_type=data.get("id", data["name"]),
            dataset_name=data["name"],
            dataset_config=data.get("config"),
            dataset_split=data["split"],
            metric_type=KNOWN_METRICS[key][1],
            metric_name=f"{KNOWN_METRICS[key][0]} ({result['label']})",
            metric_value=value,
        )
        for result in results
        for key, value in result["metrics"].items()
    ]


def _architecture_rows(
    config: dict[str, Any], generation: dict[str, Any], num_parameters: int | None
) -> list[tuple[str, str]]:
    rows = [
        ("encoder / decoder layers", f"{config.get('encoder_layers')} / {config.get('decoder_layers')}"),
        ("hidden size", config.get("hidden_size")),
        ("attention heads", config.get("encoder_attention_heads")),
        ("predicting streams (`ngram`)", int(config.get("ngram", 1))),
        ("vocabulary", config.get("vocab_size")),
        ("position table (longest source or target it can read, tokens)", config.get("max_position_embeddings")),
        ("output length (`generation_config.max_new_tokens`, the NAR canvas)", generation.get("max_new_tokens")),
        ("parameters", f"{num_parameters:,}" if num_parameters is not None else None),
        ("default decoding (`generation_config.decoding_mode`)", generation.get("decoding_mode")),
    ]
    return [(k, _cell(v)) for k, v in rows]


def _usage_variables(
    results: list[dict[str, Any]],
    config: dict[str, Any],
    generation: dict[str, Any],
    first_texts: str,
    pair_texts: str | None,
) -> dict[str, Any]:
    """The usage snippet's settings: the results' output length (else the generation config's, else 30, at most the
    position table), the generation config's beams (4 when greedy) and a semi-NAR block of 2 for `ngram >= 2`."""
    max_new_tokens = next((r["max_new_tokens"] for r in results if r.get("max_new_tokens")), None)
    max_new_tokens = max_new_tokens or generation.get("max_new_tokens") or 30
    max_new_tokens = min(int(max_new_tokens), int(config.get("max_position_embeddings", max_new_tokens)))
    beams = int(generation.get("num_beams") or 1)
    return {
        "usage_texts": first_texts,
        "usage_text_pairs": pair_texts,
        "usage_max_new_tokens": max_new_tokens,
        "usage_num_beams": beams if beams > 1 else 4,
        "usage_semi_nar_block_size": 2 if int(config.get("ngram", 1)) >= 2 else None,
    }


def _limitations(
    model_type: str,
    data: dict[str, str],
    rows: list[dict[str, Any]],
    devices: list[str],
    num_parameters: int | None,
    ngram: int,
) -> list[str]:
    size = f"{num_parameters:,} parameters" if num_parameters is not None else "an unknown number of parameters"
    items = [
        f"This model has {size}. The BANG and SPMD papers report results of BANG-base, pretrained on 16 GB of "
        "text; those results say nothing about this model, whose only measured numbers are the ones on this card.",
    ]
    if model_type == "base":
        items.append(
            "It is a pretrained model: its outputs are not meant to be used before fine-tuning on a task "
            "(`bang-finetune`, `bang-train`)."
        )
    else:
        items.append(
            f"It was trained for one task on {data['name']} only; inputs of another domain, style or language than "
            "that data are outside what it was trained and evaluated on."
        )
    if rows:
        where = ", ".join(devices) if devices else "a device not recorded in the results"
        items.append(
            f"The results were measured on the {data['split']} split of {data['name']} on {where}. Times per "
            "sample depend on the hardware, the batch size and the output length: compare them only between rows "
            "measured on the same machine."
        )
    if model_type != "teacher":
        items.append(
            "NAR decoding predicts all positions in one pass and independently of each other, so its outputs are "
            "more often repetitive, generic or disfluent than AR outputs; consecutive repeated tokens are collapsed "
            "by the official post-processing."
        )
    if ngram >= 2:
        items.append(
            "Semi-NAR decoding is this package's design (no semi-NAR code was released with BANG); its quality "
            "depends on whether the model was trained with the n-stream objective (`bang-finetune --mode ngram`)."
        )
    items.append(
        "Loading uses `trust_remote_code=True`, which runs the Python files of this repository "
        "(`configuration_bang.py`, `modeling_bang.py`, `generation_bang.py`); read them, and pin a `revision`."
    )
    return items


def write_model_card(model_dir: str | Path, *, overwrite: bool = False, **kwargs: Any) -> Path:
    """Renders the card (`render_model_card(model_dir, **kwargs)`) and saves it as `model_dir/README.md`.

    An existing `README.md` is kept (ValueError) unless `overwrite=True`. Returns the path written.
    """
    path = Path(model_dir) / "README.md"
    if path.exists() and not overwrite:
        raise ValueError(f"{path} exists; pass overwrite=True to replace it.")
    card = render_model_card(model_dir, **kwargs)
    card.save(path)
    return path


def results_from_log_history(log_history: Sequence[Mapping[str, Any]], decoding_mode: str) -> list[dict[str, Any]]:
    """The last Trainer evaluation that logged a known metric (`eval_rougeL_f1`, ...) as a result dict.

    `decoding_mode` is the mode the Trainer's `predict_with_generate` decoded with. Returns `[]` when no evaluation
    logged a metric of `KNOWN_METRICS`.
    """
    for entry in reversed(list(log_history)):
        metrics = {key: entry[f"eval_{key}"] for key in KNOWN_METRICS if f"eval_{key}" in entry}
        if metrics:
            result: dict[str, Any] = {"decoding_mode": decoding_mode, **metrics}
            if isinstance(entry.get("step"), int) and entry["step"] > 0:
                result["step"] = entry["step"]
            return [result]
    return []
