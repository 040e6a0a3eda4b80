"""Publish a saved BANG model folder to the Hugging Face Hub, after checking that it is a complete package.

`push_model_folder_to_hub(folder, repo_id)` checks the folder and uploads it (`bang-push` on the command line);
`export_model_folder(folder, target)` copies the same files into another folder (`bang-push --export_dir`).

A complete package (`check_model_folder`) has: `config.json` of model type `bang`; the remote-code files that its
`auto_map` names and every file they import relatively (`generation_bang.py`); safetensors weights
(`model.safetensors`, or an index and all its shards); `generation_config.json`; the tokenizer (`tokenizer_config.json`
and a vocabulary file such as `tokenizer.json`); and a model card `README.md` with YAML metadata
(`bang_spmd.model_cards.write_model_card` writes one). A folder that lacks any of them is refused with a message naming
every missing file; nothing is sent.

Remote code (this package's choice): a folder whose `config.json` has an `auto_map` publishes its own code, which must
then be in the folder (`save_pretrained` after `import modeling_bang` copies it there). A folder whose `config.json`
has no `auto_map` (the model that ships with this package, `bang_spmd.pretrained`, holds no code) gets the code of the
installed `modeling_bang` package attached (`configuration_bang.py`, `modeling_bang.py`, `generation_bang.py`: the
`auto_map` modules and what they import relatively; `package_code_files`) and an `auto_map` for `AutoConfig` and
`AutoModelForSeq2SeqLM` (`PACKAGE_AUTO_MAP`) added to the published `config.json`, which is otherwise unchanged; the
folder itself is not modified, and Python files of those names in such a folder (not named by any `auto_map`, so
never loaded from it) are replaced by the package's. Either way the published folder loads with
`trust_remote_code=True` where this package is not installed.

What is uploaded (this package's choice, `UPLOAD_IGNORE_PATTERNS`): the files at the top of the folder, except
training state and pickles, plus the attached code. Files in subfolders (`checkpoint-*`, `runs/` logs, caches) are
not uploaded, nor are `training_args.bin`, optimizer / scheduler / scaler / RNG states and any other `*.bin`, `*.pt`,
`*.pth`, `*.ckpt`, `*.pkl` file (the weights travel as safetensors), nor hidden or `_`-prefixed files. Other
top-level files (`trainer_state.json`, `eval_results.json`, prediction files, ...) are uploaded with the model;
`files_to_upload` lists them without contacting the Hub.

The token comes from `token`, else from `HF_TOKEN` or `hf auth login` (huggingface_hub's usual lookup).
"""

import ast
import json
import shutil
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, ModelCard
from huggingface_hub.utils import filter_repo_objects

import modeling_bang
from modeling_bang import BangConfig, BangForConditionalGeneration


REQUIRED_AUTO_CLASSES = ("AutoConfig", "AutoModelForSeq2SeqLM")
PACKAGE_CODE_DIR = Path(modeling_bang.__file__).resolve().parent
# What `save_pretrained` writes after `import modeling_bang` (module file in the folder, then class name).
PACKAGE_AUTO_MAP = {
    auto_class: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"
    for auto_class, cls in zip(REQUIRED_AUTO_CLASSES, (BangConfig, BangForConditionalGeneration), strict=True)
}
TOKENIZER_VOCABULARY_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
UPLOAD_IGNORE_PATTERNS = (
    "*/*",  # anything in a subfolder: checkpoint-*/, runs/, caches (fnmatch's * also matches "/")
    ".*",
    "_*",
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.pkl",
    "*.pickle",
)


def _relative_imports(path: Path) -> set[str]:
    """Module names a remote-code file imports relatively (`from .x import y`, `from . import x`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
    return names


def _remote_code_files(folder: Path, auto_map: dict, problems: list[str]) -> list[str]:
    """The `auto_map` modules and, transitively, their relative imports; missing ones are added to `problems`."""
    pending = []
    for auto_class in REQUIRED_AUTO_CLASSES:
        reference = auto_map.get(auto_class)
        if not isinstance(reference, str) or "." not in reference:
            problems.append(f"config.json auto_map has no `{auto_class}` entry (got {reference!r})")
        elif "--" in reference:
            problems.append(
                f"config.json auto_map[{auto_class!r}] = {reference!r} points to code in another repository; "
                "save the model with the remote-code files in the folder"
            )
        else:
            pending.append((reference.rsplit(".", 1)[0] + ".py", f"auto_map[{auto_class!r}]"))
    found: list[str] = []
    while pending:
        name, needed_by = pending.pop(0)
        if name in found or any(p.startswith(f"{name} ") for p in problems):
            continue
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} (remote code named by {needed_by})")
            continue
        found.append(name)
        try:
            imports = _relative_imports(path)
        except SyntaxError as error:
            problems.append(f"{name} is not valid Python ({error.msg}, line {error.lineno})")
            continue
        pending += [(f"{module}.py", f"the import in {name}") for module in sorted(imports)]
    return found


def package_code_files() -> list[str]:
    """The remote-code files of the installed `modeling_bang` package that a folder without its own code gets
    attached when published: the modules `PACKAGE_AUTO_MAP` names and, transitively, their relative imports."""
    problems: list[str] = []
    files = _remote_code_files(PACKAGE_CODE_DIR, PACKAGE_AUTO_MAP, problems)
    if problems:
        raise RuntimeError(f"The installed modeling_bang package ({PACKAGE_CODE_DIR}) lacks " + "; ".join(problems))
    return files


def _read_config(folder: Path) -> dict:
    """`folder/config.json` as a dict; {} when it is missing or not a JSON object (`check_model_folder` says why)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def attached_code_files(folder: str | Path) -> list[str]:
    """The package's code files that publishing `folder` attaches (`package_code_files`): all of them when its
    `config.json` is a BANG config without `auto_map` (a folder without its own code), else none."""
    config = _read_config(Path(folder))
    if config.get("model_type") != BangConfig.model_type or "auto_map" in config:
        return []
    return package_code_files()


def _published_sources(folder: Path, files: list[str]) -> dict[str, Path | bytes]:
    """Where each published file comes from: the folder's file, the package's code file (attached), or, for
    `config.json` of a folder that gets the package's code, the folder's config with `PACKAGE_AUTO_MAP` added."""
    attached = attached_code_files(folder)
    sources: dict[str, Path | bytes] = {
        name: (PACKAGE_CODE_DIR if name in attached else folder) / name for name in files
    }
    if attached:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["auto_map"] = dict(PACKAGE_AUTO_MAP)
        # The layout of transformers' `PretrainedConfig.to_json_file`.
        sources["config.json"] = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return sources


def _weight_files(folder: Path, problems: list[str]) -> list[str]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, AttributeError) as error:
            problems.append(f"model.safetensors.index.json is not a valid weight index ({error!r})")
            return []
        missing = [s for s in shards if not (folder / s).is_file()]
        problems += [f"{s} (weight shard listed in model.safetensors.index.json)" for s in missing]
        return ["model.safetensors.index.json", *shards]
    if (folder / "model.safetensors").is_file():
        return ["model.safetensors"]
    problems.append("model.safetensors (model weights; save with save_pretrained, safetensors only)")
    return []


def check_model_folder(folder: str | Path) -> list[str]:
    """Checks that `folder` is a complete BANG package (module docstring); returns the files that will be uploaded.

    Raises:
        ValueError: naming every missing or invalid file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder.")
    problems: list[str] = []
    config_path = folder / "config.json"
    config: dict = {}
    if not config_path.is_file():
        problems.append("config.json (model configuration)")
    else:
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            problems.append(f"config.json is not valid JSON ({error})")
        if config and config.get("model_type") != "bang":
            problems.append(f"config.json has model_type {config.get('model_type')!r}, not 'bang'")
        if config and "auto_map" in config and not isinstance(config["auto_map"], dict):
            problems.append(f"config.json auto_map is not a mapping of auto classes (got {config['auto_map']!r})")
    if isinstance(config.get("auto_map"), dict):
        _remote_code_files(folder, config["auto_map"], problems)
    _weight_files(folder, problems)
    if not (folder / "generation_config.json").is_file():
        problems.append("generation_config.json (generation settings, saved by save_pretrained)")
    if not (folder / "tokenizer_config.json").is_file():
        problems.append("tokenizer_config.json (save the tokenizer with tokenizer.save_pretrained(folder))")
    if not any((folder / name).is_file() for name in TOKENIZER_VOCABULARY_FILES):
        problems.append(f"a tokenizer vocabulary file (one of {', '.join(TOKENIZER_VOCABULARY_FILES)})")
    readme = folder / "README.md"
    if not readme.is_file():
        problems.append("README.md (model card; write it with bang_spmd.model_cards.write_model_card)")
    else:
        try:
            card = ModelCard.load(readme)
        except Exception as error:  # huggingface_hub raises ValueError or yaml errors for bad metadata
            problems.append(f"README.md has invalid metadata ({error})")
        else:
            if not card.data.to_dict():
                problems.append(
                    "README.md has no YAML metadata header (write it with bang_spmd.model_cards.write_model_card)"
                )
    if problems:
        raise ValueError(f"{folder} is not a complete BANG model package; missing or invalid: " + "; ".join(problems))
    return files_to_upload(folder)


def files_to_upload(folder: str | Path) -> list[str]:
    """The files (relative POSIX paths, sorted) that `push_model_folder_to_hub` uploads: the folder's own and the
    package's code it gets attached (`attached_code_files`)."""
    folder = Path(folder)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    kept = filter_repo_objects(files, ignore_patterns=list(UPLOAD_IGNORE_PATTERNS))
    return sorted({*kept, *attached_code_files(folder)})


def export_model_folder(folder: str | Path, target: str | Path, overwrite: bool = False) -> list[str]:
    """Copies the files `push_model_folder_to_hub` would upload (after the same check) into the folder `target`: the
    publishable package of a training run, e.g. the model that ships with this package. A non-empty `target` is
    refused unless `overwrite` (which empties it first). A folder without its own code gets the package's attached
    (module docstring). Returns the copied files."""
    files = check_model_folder(folder)
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise ValueError(f"{target} is not empty; pass overwrite=True (--overwrite) to replace it.")
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    for name, source in _published_sources(Path(folder), files).items():
        if isinstance(source, bytes):
            (target / name).write_bytes(source)
        else:
            shutil.copy2(source, target / name)
    return files


def push_model_folder_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
) -> str:
    """Checks `folder` (`check_model_folder`), creates the model repository if needed and uploads the package (in one
    commit; a folder without its own code gets the package's attached, module docstring).

    `private=None` keeps the Hub's default for a new repository (and never changes an existing one). With
    `revision`, the branch is created if missing. Returns the URL of the commit (of the pull request with
    `create_pr=True`).
    """
    if create_pr and revision is not None:
        raise ValueError("`create_pr=True` opens a pull request against the main branch; do not also pass `revision`.")
    files = check_model_folder(folder)
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=source if isinstance(source, bytes) else str(source))
        for name, source in _published_sources(Path(folder), files).items()
    ]
    api = HfApi(token=token)
    repo_url = api.create_repo(repo_id, token=token, private=private, repo_type="model", exist_ok=True)
    repo_id = getattr(repo_url, "repo_id", None) or repo_id
    if revision is not None and not create_pr:
        api.create_branch(repo_id, branch=revision, token=token, repo_type="model", exist_ok=True)
    commit = api.create_commit(
        repo_id=repo_id,
        operations=operations,
        repo_type="model",
        token=token,
        revision=revision,
        create_pr=create_pr,
        commit_message=commit_message or "Upload BANG model with bang-push",
    )
    return str(commit.pr_url if create_pr and commit.pr_url else commit.commit_url)


__all__ = [
    "PACKAGE_AUTO_MAP",
    "UPLOAD_IGNORE_PATTERNS",
    "attached_code_files",
    "check_model_folder",
    "export_model_folder",
    "files_to_upload",
    "package_code_files",
    "push_model_folder_to_hub",
]
