"""One function per training job, taking dataclasses (no argv): `pretrain`, `finetune`, `distill`, `train_spmd`.

The command lines (`bang-pretrain`, `bang-finetune`, `bang-distill`, `bang-train`) parse their flags into these
dataclasses with `HfArgumentParser` and call the function; the experiment pipeline builds the same dataclasses
directly. Each job's model is described by a `bang_spmd.trainers.ModelShape` (inside `BangModelArguments`), from which
`bang_spmd.trainers.bang_config` builds the `BangConfig`.
"""

from .common import BangModelArguments, DataArguments
from .distill import DistillArguments, distill
from .finetune import FinetuneModelArguments, finetune
from .pretrain import PretrainingDataArguments, pretrain
from .train_spmd import SPMDModelArguments, train_spmd


__all__ = [
    "BangModelArguments",
    "DataArguments",
    "DistillArguments",
    "FinetuneModelArguments",
    "PretrainingDataArguments",
    "SPMDModelArguments",
    "distill",
    "finetune",
    "pretrain",
    "train_spmd",
]
