"""BANG's NAR decoder as an ONNX graph: build it, write it, run it with onnxruntime, check it against eager.

The graph is `BangForConditionalGeneration.nar_decode` with a fixed canvas: one encoder pass, one NAR decoder pass
over `canvas_length` masks, and the argmax at every canvas position (Qi et al., ICML 2021, section 3; the official
`bang_NAR_generator.py`). Inputs `input_ids` and `attention_mask` (int64, (batch, source_length), batch and source
length dynamic, the source at most `max_source_length` tokens, right- or left-padded), output `canvas` (int64,
(batch, canvas_length)). The official post-processing (cut at the first `[SEP]`, drop `[CLS]`, collapse repeats) is
not part of the graph: it is a few list operations per row, done by `OnnxNarDecoder.generate` with the model's own
`generation_bang.nar_canvas_to_sequences`, so that the result is exactly `model.generate(decoding_mode="nar",
max_new_tokens=canvas_length)`.

The export uses torch.export (`torch.onnx.export(dynamo=True)`), with the model's eager attention kernel (the same
arithmetic as sdpa; the ONNX exporter's decomposition of sdpa does not keep the strides this model's reshapes need,
and onnxruntime fuses the attention itself). The model's input checks read tensor values and are skipped while
traced, so the graph trusts its inputs: ids inside the vocabulary and at least one real token per row, as the
tokenizer gives them.

Files written to the output folder: `bang_nar.onnx` and `bang_nar_export.json` (canvas length, source limit, special
ids, post-processing settings, versions); `bang-export` also copies the model's tokenizer there.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modeling_bang import BangForConditionalGeneration
from modeling_bang.generation_bang import nar_canvas_to_sequences


ONNX_FILE = "bang_nar.onnx"
METADATA_FILE = "bang_nar_export.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "canvas"
DEFAULT_OPSET = 18


@dataclass(frozen=True)
class NarExportMetadata:
    """What a server needs besides the graph: the canvas and source sizes and the post-processing ids."""

    canvas_length: int
    max_source_length: int
    opset: int
    vocab_size: int
    pad_token_id: int
    eos_token_id: int
    decoder_start_token_id: int
    cls_token_id: int | None
    collapse_repeats: bool
    torch_version: str
    inputs: tuple[str, ...] = INPUT_NAMES
    output: str = OUTPUT_NAME

    def save(self, folder: Path) -> Path:
        path = Path(folder) / METADATA_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: Path) -> "NarExportMetadata":
        values = json.loads((Path(folder) / METADATA_FILE).read_text())
        values["inputs"] = tuple(values["inputs"])
        return cls(**values)


class NarDecodeGraph(nn.Module):
    """`model.nar_decode(input_ids, attention_mask, canvas_length)` as a module of two tensor inputs."""

    def __init__(self, model: BangForConditionalGeneration, canvas_length: int):
        super().__init__()
        self.model = model
        self.canvas_length = canvas_length

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.nar_decode(input_ids, attention_mask, self.canvas_length)


def load_model(path: str | Path) -> BangForConditionalGeneration:
    """A saved BANG folder, loaded strictly (a checkpoint that lacks or adds weights is an error naming them)."""
    return BangForConditionalGeneration.from_pretrained(path, strict=True).eval()


def default_canvas_length(model: BangForConditionalGeneration) -> int:
    """The canvas `generate(decoding_mode="nar")` uses by default: `max_new_tokens`, else `max_length - 1`."""
    return model._new_token_budget(model.generation_config)


def check_sizes(model: BangForConditionalGeneration, canvas_length: int, max_source_length: int) -> None:
    limit = model.config.max_position_embeddings
    for name, value in (("canvas_length", canvas_length), ("max_source_length", max_source_length)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise ValueError(f"`{name}` must be an integer in [1, {limit}] (max_position_embeddings), got {value!r}.")


def sample_inputs(model: BangForConditionalGeneration, max_source_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A traced example: 2 rows, the second right-padded (the export itself makes batch and length dynamic)."""
    config = model.config
    length = min(8, max_source_length)
    low = min(max(config.pad_token_id, config.eos_token_id, config.cls_token_id or 0) + 1, config.vocab_size - 1)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(low, config.vocab_size, (2, length), generator=generator)
    input_ids[:, -1] = config.eos_token_id
    attention_mask = torch.ones_like(input_ids)
    if length > 2:
        attention_mask[1, -1] = 0
        input_ids[1, -1] = config.pad_token_id
    return input_ids, attention_mask


def export_nar_onnx(
    model: BangForConditionalGeneration,
    output_dir: str | Path,
    canvas_length: int | None = None,
    max_source_length: int | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Writes `bang_nar.onnx` and `bang_nar_export.json` to `output_dir`; returns the ONNX file's path.

    Args:
        model: a BANG model (float32); it is exported in eval mode with the eager attention kernel and restored.
        canvas_length: NAR canvas positions (the longest output); default: what `generate(decoding_mode="nar")`
            uses (`max_new_tokens`, else `max_length - 1` of the model's generation config).
        max_source_length: longest source the graph accepts; default: `max_position_embeddings`.
        opset: ONNX opset (default 18).
    """
    canvas_length = default_canvas_length(model) if canvas_length is None else canvas_length
    max_source_length = model.config.max_position_embeddings if max_source_length is None else max_source_length
    check_sizes(model, canvas_length, max_source_length)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / ONNX_FILE
    batch = torch.export.Dim("batch", min=1, max=4096)
    source = torch.export.Dim("source_length", min=1, max=max_source_length)
    dynamic = {"input_ids": {0: batch, 1: source}, "attention_mask": {0: batch, 1: source}}
    implementation, was_training = model.config._attn_implementation, model.training
    model.config._attn_implementation = "eager"
    model.eval()
    try:
        with torch.no_grad():
            torch.onnx.export(
                NarDecodeGraph(model, canvas_length),
                sample_inputs(model, max_source_length),
                str(path),
                dynamo=True,
                dynamic_shapes=dynamic,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                external_data=False,
            )
    finally:
        model.config._attn_implementation = implementation
        model.train(was_training)
    config = model.config
    NarExportMetadata(
        canvas_length=canvas_length,
        max_source_length=max_source_length,
        opset=opset,
        vocab_size=config.vocab_size,
        pad_token_id=config.pad_token_id,
        eos_token_id=config.eos_token_id,
        decoder_start_token_id=model.generation_config.decoder_start_token_id or config.decoder_start_token_id,
        cls_token_id=config.cls_token_id,
        collapse_repeats=bool(getattr(model.generation_config, "nar_collapse_repeats", True)),
        torch_version=torch.__version__,
    ).save(output_dir)
    return path


class OnnxNarDecoder:
    """Runs an exported NAR decoder with onnxruntime.

    `canvas(ids, mask)` gives the (batch, canvas_length) argmax ids; `generate(ids, mask)` adds the official
    post-processing and returns what `model.generate(ids, attention_mask=mask, decoding_mode="nar",
    max_new_tokens=canvas_length)` returns (a right-padded int64 tensor `[start] tokens... [SEP]`).
    """

    def __init__(self, folder: str | Path, providers: tuple[str, ...] = ("CPUExecutionProvider",), threads=None):
        import onnxruntime

        self.folder = Path(folder)
        self.metadata = NarExportMetadata.load(self.folder)
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(self.folder / ONNX_FILE), sess_options=options, providers=list(providers)
        )

    def canvas(self, input_ids, attention_mask=None) -> np.ndarray:
        """(batch, canvas_length) int64 argmax ids of the NAR canvas."""
        input_ids = np.asarray(input_ids, dtype=np.int64)
        if input_ids.ndim != 2 or input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
            raise ValueError(f"`input_ids` must be a non-empty (batch, length) array, got shape {input_ids.shape}.")
        if input_ids.shape[1] > self.metadata.max_source_length:
            raise ValueError(
                f"The source has {input_ids.shape[1]} tokens; this export accepts at most "
                f"{self.metadata.max_source_length}: truncate it when tokenizing."
            )
        if attention_mask is None:
            attention_mask = (input_ids != self.metadata.pad_token_id).astype(np.int64)
        attention_mask = np.asarray(attention_mask, dtype=np.int64)
        if not (attention_mask.sum(-1) > 0).all():
            raise ValueError("Every source row needs at least one real token (attention mask 1).")
        if ((input_ids < 0) | (input_ids >= self.metadata.vocab_size)).any():
            raise ValueError(f"Source token ids must lie in [0, {self.metadata.vocab_size}).")
        return self.session.run([OUTPUT_NAME], {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def generate(self, input_ids, attention_mask=None, collapse_repeats: bool | None = None) -> torch.Tensor:
        """The post-processed sequences, as `model.generate(..., decoding_mode="nar")` returns them."""
        metadata = self.metadata
        return nar_canvas_to_sequences(
            torch.from_numpy(self.canvas(input_ids, attention_mask)),
            decoder_start_token_id=metadata.decoder_start_token_id,
            sep_token_id=metadata.eos_token_id,
            pad_token_id=metadata.pad_token_id,
            cls_token_id=metadata.cls_token_id,
            collapse_repeats=metadata.collapse_repeats if collapse_repeats is None else collapse_repeats,
        )


def check_batches(config, max_source_length: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Source batches of several shapes for the check: one row; right-padded rows; left-padded rows; the longest
    source the export accepts."""
    generator = torch.Generator().manual_seed(seed)
    low = min(max(config.pad_token_id, config.eos_token_id, config.cls_token_id or 0) + 1, config.vocab_size - 1)
    batches = []
    for batch, length, side in ((1, min(5, max_source_length), "right"), (4, min(11, max_source_length), "right"),
                                (3, min(9, max_source_length), "left"), (2, max_source_length, "right")):  # fmt: skip
        input_ids = torch.randint(low, config.vocab_size, (batch, length), generator=generator)
        input_ids[:, -1] = config.eos_token_id
        attention_mask = torch.ones_like(input_ids)
        for row in range(1, batch):
            pad = min(row, length - 1)
            if pad:
                if side == "right":
                    attention_mask[row, length - pad :] = 0
                else:
                    attention_mask[row, :pad] = 0
        input_ids = input_ids.masked_fill(attention_mask.eq(0), config.pad_token_id)
        batches.append((input_ids, attention_mask))
    return batches


def check_against_eager(
    model: BangForConditionalGeneration, decoder: OnnxNarDecoder, batches=None, seed: int = 0
) -> dict[str, Any]:
    """Runs `batches` (default: `check_batches`) through the eager model and the ONNX graph and compares the canvases
    and the post-processed sequences token for token.

    Returns {"batches": [{"shape", "canvas_equal", "sequences_equal"}...], "equal": bool}.
    """
    metadata = decoder.metadata
    batches = check_batches(model.config, metadata.max_source_length, seed) if batches is None else batches
    report = []
    model.eval()
    with torch.no_grad():
        for input_ids, attention_mask in batches:
            eager_canvas = model.nar_decode(input_ids, attention_mask, metadata.canvas_length)
            eager_sequences = model.generate(
                input_ids,
                attention_mask=attention_mask,
                decoding_mode="nar",
                nar_canvas="max_new_tokens",
                max_new_tokens=metadata.canvas_length,
            )
            onnx_canvas = torch.from_numpy(decoder.canvas(input_ids.numpy(), attention_mask.numpy()))
            onnx_sequences = decoder.generate(input_ids.numpy(), attention_mask.numpy())
            report.append(
                {
                    "shape": list(input_ids.shape),
                    "canvas_equal": torch.equal(onnx_canvas, eager_canvas),
                    "sequences_equal": torch.equal(onnx_sequences, eager_sequences),
                }
            )
    return {"batches": report, "equal": all(r["canvas_equal"] and r["sequences_equal"] for r in report)}


__all__ = [
    "DEFAULT_OPSET",
    "METADATA_FILE",
    "ONNX_FILE",
    "NarDecodeGraph",
    "NarExportMetadata",
    "OnnxNarDecoder",
    "check_against_eager",
    "check_batches",
    "default_canvas_length",
    "export_nar_onnx",
    "load_model",
]
