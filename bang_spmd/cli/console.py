"""The console commands' entry points (`pyproject.toml [project.scripts]`): each runs the `main` of one
`bang_spmd.cli` module on the command line's arguments, under one error policy (`run_program`).

The modules' `main(argv)` return their results for callers in Python; a console command must not hand that value to
`sys.exit`, so these wrappers return None (exit status 0). A module is imported only when its command runs, so
`--help` stays fast.

Error policy. A user error ends the program with one line on standard error, `bang-<name>: error: <message>`, and
exit status 2 (argparse's status for a bad command line), without a traceback; `--debug` (or `BANG_DEBUG=1`) shows
the traceback instead. User errors are what the user gave or the machine refused, `USER_ERRORS`: `ValueError` (this
package raises it, with the flag, file, line, column or tensor named, for every bad flag, file, row and model
folder), `OSError` (a missing or unreadable file, no space left, a lock held by another run), and `SystemExit` with
a message. Every other exception (`TypeError`, `KeyError`, `RuntimeError`, ...) is a bug or a failure of the
libraries and keeps its traceback. The programs run with `python -m bang_spmd.cli.<name>` (e.g. under
`accelerate launch`) follow the same policy.
"""

import importlib
import os
import sys
from collections.abc import Callable


USER_ERRORS = (ValueError, OSError)
DEBUG_FLAG = "--debug"
USER_ERROR_STATUS = 2


def split_debug_flag(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether the traceback is asked for (`--debug` not followed by a value, or `BANG_DEBUG=1`), and `argv`
    without that flag. The training programs' own `--debug VALUE` (a Trainer option) is left alone."""
    debug = os.environ.get("BANG_DEBUG", "") not in ("", "0")
    kept = []
    for index, item in enumerate(argv):
        if item == DEBUG_FLAG and (index + 1 == len(argv) or argv[index + 1].startswith("-")):
            debug = True
        else:
            kept.append(item)
    return debug, kept


def one_line(error: BaseException) -> str:
    """The message of `error` on one line (whitespace collapsed); its class name when it has no message."""
    message = " ".join(str(error).split())
    return message or type(error).__name__


def fail(prog: str, message: str) -> None:
    """Prints `prog: error: message` to standard error and exits with status 2."""
    print(f"{prog}: error: {message} (--debug shows the traceback)", file=sys.stderr, flush=True)
    sys.exit(USER_ERROR_STATUS)


def run_program(main: Callable, prog: str, argv: list[str] | None = None, returns_status: bool = False) -> None:
    """Runs `main(argv)` (default `sys.argv[1:]`) under the error policy (module docstring). With `returns_status`,
    `main` returns the exit status (the converters).

    Under `accelerate launch` the program ends its torch.distributed process group before the interpreter exits,
    whatever the outcome: a process that exits with the group alive can abort in the group's teardown ("terminate
    called without an active exception", SIGABRT), so a run that finished its work would report a failure."""
    debug, argv = split_debug_flag(list(sys.argv[1:] if argv is None else argv))
    try:
        result = main(argv)
    except SystemExit as stop:
        if isinstance(stop.code, str) and not debug:
            fail(prog, " ".join(stop.code.split()))
        raise
    except USER_ERRORS as error:
        if debug:
            raise
        fail(prog, one_line(error))
    finally:
        end_process_group()
    if returns_status and result:
        sys.exit(result)


def end_process_group() -> None:
    """Destroys the default torch.distributed process group if this process started one (`accelerate launch`)."""
    distributed = sys.modules.get("torch.distributed")  # a program that never imported torch started no group
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        distributed.destroy_process_group()


def _run(module: str) -> None:
    program = importlib.import_module(f"bang_spmd.cli.{module}")
    run_program(program.main, "bang-" + module.replace("_", "-"))


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


def demo() -> None:
    _run("demo")


def export() -> None:
    _run("export")


def push() -> None:
    _run("push")


def convert() -> None:
    converter = importlib.import_module("modeling_bang.convert_bang_original_checkpoint")
    run_program(converter.main, "bang-convert", returns_status=True)


def convert_prophetnet() -> None:
    converter = importlib.import_module("modeling_bang.convert_prophetnet_to_bang")
    run_program(converter.main, "bang-convert-prophetnet", returns_status=True)
