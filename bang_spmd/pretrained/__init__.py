"""The pretrained BANG models that ship with this package, by name.

`bang-mini` is BANG pretrained by this package (`bang-pretrain`, the n-stream span-masking objective of the BANG paper,
section 3) on the training splits of the shared data sets; its folder (`BANG_MINI`) holds the weights, tokenizer,
configuration, generation configuration, model card and training logs, and loads offline through the classes that
`import modeling_bang` registers with transformers' auto classes (importing this module imports it):

    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    from bang_spmd.pretrained import BANG_MINI

    model = AutoModelForSeq2SeqLM.from_pretrained(BANG_MINI)
    tokenizer = AutoTokenizer.from_pretrained(BANG_MINI)

The folder holds no copy of the model code and its `config.json` no `auto_map`: `bang-push --model_dir BANG_MINI
--export_dir DIR` (or `--repo_id` to upload) attaches the installed `modeling_bang` code and an `auto_map`, and the
result loads with `trust_remote_code=True` where this package is not installed (`bang_spmd.hub.publish`).

The programs (`bang-finetune`, `bang-train`, `bang-evaluate`, ...) also take the name itself as a model path
(`--model_name_or_path bang-mini`) and start from it by default; `resolve_model_name` maps a name to its folder.
"""

from pathlib import Path

import modeling_bang  # noqa: F401  (registers BANG with the auto classes that load BANG_MINI)


PRETRAINED_DIR = Path(__file__).resolve().parent
BANG_MINI = str(PRETRAINED_DIR / "bang-mini")
PRETRAINED_MODELS = {"bang-mini": BANG_MINI}
DEFAULT_MODEL = "bang-mini"


def resolve_model_name(name_or_path: str | None) -> str | None:
    """The folder of a shipped model's name (`PRETRAINED_MODELS`); any other value (a path, a Hub id, None) as it
    is. A folder of that name in the working directory wins over the shipped model, as with `from_pretrained`."""
    if name_or_path in PRETRAINED_MODELS and not Path(name_or_path).exists():
        return PRETRAINED_MODELS[name_or_path]
    return name_or_path


__all__ = ["BANG_MINI", "DEFAULT_MODEL", "PRETRAINED_DIR", "PRETRAINED_MODELS", "resolve_model_name"]
