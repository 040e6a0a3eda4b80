"""Experiments: the SPMD pipeline's steps and the two programs built from them, the quickstart and the evidence grid.

* `settings`: `ExperimentSettings` (what the models of one replicate share: task, pretrained start, budget, seed),
  the NAR student variants, and the command line that reproduces a step;
* `pipeline`: the steps (teacher, distillation, students, evaluation), each a call of a recipe or of the
  evaluation with typed arguments;
* `quickstart`: `run_quickstart`, teacher and SPMD student from the shipped BANG-mini on an embedded sample (debtrans
  by default), table, example outputs and model card;
* `evidence`: `run_evidence` and `tabulate`, the multi-seed comparison of every method.
"""

from .evidence import EvidenceRun, run_evidence, tabulate
from .quickstart import QuickstartOptions, run_quickstart
from .settings import STUDENT_OPTIONS, ExperimentSettings


__all__ = [
    "STUDENT_OPTIONS",
    "EvidenceRun",
    "ExperimentSettings",
    "QuickstartOptions",
    "run_evidence",
    "run_quickstart",
    "tabulate",
]
