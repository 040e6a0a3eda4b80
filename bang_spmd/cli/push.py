"""`bang-push`: publish a saved BANG model folder to the Hugging Face Hub, after checking that it is complete.

    bang-push --model_dir outputs/wndef-spmd --repo_id user/bang-wndef-spmd [--private] [--dry_run]
    bang-push --model_dir bang_spmd/pretrained/bang-mini --export_dir bang-mini   # copy, upload nothing

What a complete package holds and what is uploaded is described in `bang_spmd.hub.publish` (a BANG folder whose
config.json has no `auto_map`, such as the shipped bang-mini, gets the installed package's remote code and an
`auto_map`); `--dry_run` lists the files without contacting the Hub. The token comes from `--token`, else from
`HF_TOKEN` or `hf auth login` (huggingface_hub's usual lookup); prefer the latter two, since a token on the command
line is visible to other users of the machine.
"""

import argparse
from pathlib import Path

from bang_spmd.hub.publish import check_model_folder, export_model_folder, push_model_folder_to_hub


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-push", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model_dir", required=True, type=Path, help="saved model folder with tokenizer and card")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo_id", help="Hub repository, e.g. user/bang-wndef-spmd")
    target.add_argument("--export_dir", type=Path, help="copy the files that would be uploaded into this folder")
    parser.add_argument("--overwrite", action="store_true", help="with --export_dir: replace a non-empty folder")
    parser.add_argument(
        "--private", action="store_true", default=None, help="create the repository private (if it is new)"
    )
    parser.add_argument("--commit_message", default=None, help="commit message (default: a generic one)")
    parser.add_argument("--revision", default=None, help="branch to push to (created if missing; default: main)")
    parser.add_argument("--create_pr", action="store_true", help="open a pull request instead of committing")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the `hf auth login` token)")
    parser.add_argument("--dry_run", action="store_true", help="check the folder, list the files, upload nothing")
    return parser


def main(argv: list[str] | None = None) -> str | list[str]:
    """Command line: returns the commit URL (printed), or with `--dry_run` the list of files (printed)."""
    args = build_parser().parse_args(argv)
    if args.export_dir is not None:
        files = export_model_folder(args.model_dir, args.export_dir, overwrite=args.overwrite)
        print("\n".join(files))
        return files
    files = check_model_folder(args.model_dir)
    if args.dry_run:
        print("\n".join(files))
        return files
    url = push_model_folder_to_hub(
        args.model_dir,
        args.repo_id,
        token=args.token,
        private=args.private,
        commit_message=args.commit_message,
        revision=args.revision,
        create_pr=args.create_pr,
    )
    print(url)
    return url


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-push")
