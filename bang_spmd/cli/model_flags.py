"""The command-line flags of the programs that load a saved model and decode with it (`bang-evaluate`,
`bang-generate`, `bang-demo`), defined once so that their names and help agree."""

import argparse


def add_trust_remote_code_flag(parser: argparse.ArgumentParser) -> None:
    """`--trust_remote_code`: a model folder whose config names its own code (`auto_map`) is refused without it."""
    parser.add_argument(
        "--trust_remote_code",
        action="store_true",
        help="allow running the Python files of a model folder whose config names its own code (auto_map)",
    )


def add_drop_unk_flag(parser: argparse.ArgumentParser) -> None:
    """`--drop_unk`: drop `[UNK]` pieces from NAR outputs (BANG's official post-processing keeps them)."""
    parser.add_argument(
        "--drop_unk", action="store_true", help="drop [UNK] from NAR outputs (the official post-processing keeps it)"
    )
