"""The console commands' entry points (`pyproject.toml [project.scripts]`): each runs the `main` of one
`bang_spmd.cli` module on the command line's arguments.

The modules' `main(argv)` return their results for callers in Python; a console command must not hand that value to
`sys.exit`, so these wrappers return None (exit status 0) and let errors raise. A module is imported only when its
command runs, so `--help` stays fast.
"""

import importlib
import sys


def _run(module: str) -> None:
    importlib.import_module(f"bang_spmd.cli.{module}").main(sys.argv[1:])


def quickstart() -> None:
    _run("quickstart")


def train_tokenizer() -> None:
    _run("train_tokenizer")


def prepare_data() -> None:
    _run("prepare_data")


def prepare_wordnet() -> None:
    _run("prepare_wordnet")


def prepare_pretraining_text() -> None:
    _run("prepare_pretraining_text")


def pretrain() -> None:
    _run("pretrain")


def finetune() -> None:
    _run("finetune")


def distill() -> None:
    _run("distill")


def train() -> None:
    _run("train")


def generate() -> None:
    _run("generate")


def evaluate() -> None:
    _run("evaluate")


def evidence() -> None:
    _run("evidence")


def benchmark() -> None:
    _run("benchmark")


def benchmark_training() -> None:
    _run("benchmark_training")


def benchmark_peer() -> None:
    _run("benchmark_peer")


def benchmark_deploy() -> None:
    _run("benchmark_deploy")


def export() -> None:
    _run("export")


def push() -> None:
    _run("push")


def convert() -> None:
    sys.exit(importlib.import_module("modeling_bang.convert_bang_original_checkpoint").main(sys.argv[1:]))


def convert_prophetnet() -> None:
    sys.exit(importlib.import_module("modeling_bang.convert_prophetnet_to_bang").main(sys.argv[1:]))
