"""Publishing: the package check, the exact files bang-push uploads (reloaded in a fresh process), the CLI, and
`SPMDTrainer.push_to_hub` with our model card. `HfApi` is patched: nothing reaches the network."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard, RepoUrl
from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

from bang_spmd.cli import push
from bang_spmd.hub import publish
from bang_spmd.model_cards import write_model_card
from bang_spmd.trainers import SPMDDataCollator, SPMDTrainer, as_nar_student

from .helpers import run_fresh_python, tiny_model, tiny_tokenizer
from .test_spmd_trainer import spmd_args, toy_examples


REPO_ID = "bang-user/bang-tiny-spmd"
PACKAGE_FILES = {
    "README.md",
    "config.json",
    "configuration_bang.py",
    "generation_bang.py",
    "generation_config.json",
    "model.safetensors",
    "modeling_bang.py",
    "tokenizer.json",
    "tokenizer_config.json",
}
CARD = {
    "model_type": "spmd",
    "results": [{"decoding_mode": "nar", "max_new_tokens": 6, "rougeL_f1": 12.5, "samples": 16, "device": "cpu"}],
    "repo_id": REPO_ID,
    "dataset": {"id": "bang-user/toy", "split": "validation"},
    "training": {"max_steps": 2},
}

# Loads the uploaded files as remote code in a fresh interpreter in which `import modeling_bang` fails.
REMOTE_GENERATE_SCRIPT = r"""
import sys
sys.modules["modeling_bang"] = None
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
folder = sys.argv[1]
model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
assert "transformers_modules" in type(model).__module__, type(model).__module__
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
batch = tokenizer(["5 6 7 8", "9 10 11"], return_tensors="pt", padding=True)
output = model.generate(**batch, decoding_mode="nar", max_new_tokens=6)
torch.save(output, folder + "/nar_output.pt")
print(tokenizer.batch_decode(output, skip_special_tokens=True))
"""


class FakeHub:
    """Stands in for the Hub: records create_repo / create_branch calls and the files a commit would send, from
    create_commit (`bang-push`) or upload_folder (the Trainer's own upload).

    upload_folder's file list is computed as `HfApi.upload_folder` does: every file under `folder_path`, filtered with
    `allow_patterns` and `ignore_patterns` plus huggingface_hub's default ignore patterns. Contents are read at once.
    """

    def __init__(self):
        self.repos, self.branches, self.uploads = [], [], []

    def create_repo(self, api, repo_id, *, token=None, private=None, repo_type=None, exist_ok=False, **kwargs):
        self.repos.append({"repo_id": repo_id, "private": private, "exist_ok": exist_ok, "token": token})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_branch(self, api, repo_id, *, branch, exist_ok=False, **kwargs):
        self.branches.append({"repo_id": repo_id, "branch": branch, "exist_ok": exist_ok})

    def create_commit(self, api, *, repo_id, operations, **kwargs):
        files = {}
        for operation in operations:
            assert isinstance(operation, CommitOperationAdd), operation
            with operation.as_file() as f:
                files[operation.path_in_repo] = f.read()
        return self._commit(repo_id, files, kwargs)

    def upload_folder(self, api, *, repo_id, folder_path, allow_patterns=None, ignore_patterns=None, **kwargs):
        folder = Path(folder_path)
        names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        ignore = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])
        kept = filter_repo_objects(
            names, allow_patterns=allow_patterns, ignore_patterns=ignore + DEFAULT_IGNORE_PATTERNS
        )
        return self._commit(repo_id, {name: (folder / name).read_bytes() for name in kept}, kwargs)

    def _commit(self, repo_id, files, kwargs):
        self.uploads.append({"repo_id": repo_id, "files": files, **kwargs})
        oid = "0" * 40
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{oid}",
            commit_message=kwargs.get("commit_message") or "",
            commit_description="",
            oid=oid,
        )


@pytest.fixture
def hub(monkeypatch):
    fake = FakeHub()
    for name in ("create_repo", "create_branch", "create_commit", "upload_folder"):
        method = getattr(fake, name)
        monkeypatch.setattr(HfApi, name, lambda api, *args, _method=method, **kwargs: _method(api, *args, **kwargs))
    return fake


@pytest.fixture(scope="module")
def saved_package(tmp_path_factory):
    """A tiny model + tokenizer + card, plus the training leftovers that must not be uploaded."""
    folder = tmp_path_factory.mktemp("package")
    tiny_model(init_std=0.3).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    write_model_card(folder, **CARD)
    (folder / "checkpoint-2").mkdir()
    for name in ("checkpoint-2/optimizer.pt", "checkpoint-2/model.safetensors", "runs/events.out.tfevents.1"):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"x")
    for name in ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", ".DS_Store", "_tmp.json"):
        (folder / name).write_bytes(b"x")
    (folder / "eval_results.json").write_text(json.dumps({"eval_rougeL_f1": 12.5}))
    return folder


def copy_package(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_push_uploads_exactly_the_package_and_the_results(saved_package, hub):
    url = publish.push_model_folder_to_hub(saved_package, REPO_ID, private=True, commit_message="Add model")
    assert url == f"https://huggingface.co/{REPO_ID}/commit/{'0' * 40}"
    assert hub.repos == [{"repo_id": REPO_ID, "private": True, "exist_ok": True, "token": None}]
    assert hub.branches == []
    (upload,) = hub.uploads
    assert set(upload["files"]) == PACKAGE_FILES | {"eval_results.json"}
    assert upload["repo_id"] == REPO_ID and upload["commit_message"] == "Add model"
    assert upload["files"]["model.safetensors"] == (saved_package / "model.safetensors").read_bytes()
    assert publish.files_to_upload(saved_package) == sorted(upload["files"])


def test_uploaded_files_load_and_generate_in_a_fresh_process(saved_package, hub, tmp_path):
    publish.push_model_folder_to_hub(saved_package, REPO_ID, revision="v1")
    assert hub.branches == [{"repo_id": REPO_ID, "branch": "v1", "exist_ok": True}]
    assert hub.uploads[0]["revision"] == "v1"
    remote = tmp_path / "downloaded"
    remote.mkdir()
    for name, content in hub.uploads[0]["files"].items():
        (remote / name).write_bytes(content)
    run_fresh_python(REMOTE_GENERATE_SCRIPT, str(remote), cwd=tmp_path)
    tokenizer = tiny_tokenizer()
    batch = tokenizer(["5 6 7 8", "9 10 11"], return_tensors="pt", padding=True)
    expected = tiny_model(init_std=0.3).generate(**batch, decoding_mode="nar", max_new_tokens=6)
    assert torch.equal(torch.load(remote / "nar_output.pt", weights_only=True), expected)


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("generation_bang.py", "generation_bang.py (remote code named by the import in modeling_bang.py)"),
        ("modeling_bang.py", "modeling_bang.py (remote code named by auto_map['AutoModelForSeq2SeqLM'])"),
        ("model.safetensors", "model.safetensors (model weights"),
        ("generation_config.json", "generation_config.json"),
        ("tokenizer.json", "a tokenizer vocabulary file"),
        ("tokenizer_config.json", "tokenizer_config.json"),
        ("README.md", "README.md (model card"),
    ],
)
def test_an_incomplete_folder_is_refused_naming_what_is_missing(saved_package, hub, tmp_path, remove, message):
    folder = copy_package(saved_package, tmp_path / "package")
    (folder / remove).unlink()
    with pytest.raises(ValueError, match="is not a complete BANG model package") as error:
        publish.push_model_folder_to_hub(folder, REPO_ID)
    assert message in str(error.value)
    assert hub.repos == [] and hub.uploads == []  # refused before any Hub call


def test_every_problem_is_named_at_once(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bart"}))
    with pytest.raises(ValueError) as error:
        publish.check_model_folder(tmp_path)
    for part in ("model_type 'bart', not 'bang'", "model.safetensors", "README.md", "tokenizer"):
        assert part in str(error.value)
    assert publish.files_to_upload(tmp_path) == ["config.json"]  # no BANG config: no code attached


def test_a_folder_without_its_own_code_is_published_with_the_packages(saved_package, hub, tmp_path):
    """A folder whose config.json has no auto_map gets the installed package's code and an auto_map in the uploaded
    config.json (the folder is left as it is; a stray code file of the same name is replaced); a folder with an
    auto_map publishes its own code."""
    folder = copy_package(saved_package, tmp_path / "package")
    config = json.loads((folder / "config.json").read_text())
    del config["auto_map"]
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (folder / "configuration_bang.py").unlink()
    (folder / "generation_bang.py").unlink()
    (folder / "modeling_bang.py").write_text("raise ImportError('a stray copy, named by no auto_map')\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert publish.files_to_upload(folder) == publish.check_model_folder(folder)
    publish.push_model_folder_to_hub(folder, REPO_ID)
    (upload,) = hub.uploads
    assert set(upload["files"]) == PACKAGE_FILES | {"eval_results.json"} == set(publish.files_to_upload(folder))
    for name in ("configuration_bang.py", "modeling_bang.py", "generation_bang.py"):
        assert upload["files"][name] == (publish.PACKAGE_CODE_DIR / name).read_bytes(), name
    uploaded_config = json.loads(upload["files"]["config.json"])
    assert uploaded_config == config | {"auto_map": publish.PACKAGE_AUTO_MAP}
    assert upload["files"]["config.json"] == (saved_package / "config.json").read_bytes()  # save_pretrained's layout
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before

    own = copy_package(saved_package, tmp_path / "own")
    (own / "modeling_bang.py").write_text((own / "modeling_bang.py").read_text() + "# the folder's own version\n")
    publish.push_model_folder_to_hub(own, REPO_ID)
    assert hub.uploads[1]["files"]["modeling_bang.py"] == (own / "modeling_bang.py").read_bytes()
    assert hub.uploads[1]["files"]["config.json"] == (own / "config.json").read_bytes()


def test_an_auto_map_that_is_no_mapping_is_refused(saved_package, tmp_path):
    folder = copy_package(saved_package, tmp_path / "package")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps(config | {"auto_map": "modeling_bang.BangForConditionalGeneration"})
    )
    with pytest.raises(ValueError, match="auto_map is not a mapping of auto classes"):
        publish.check_model_folder(folder)


def test_command_line(saved_package, hub, capsys):
    with pytest.raises(SystemExit) as exit_info:
        push.main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--model_dir", "--repo_id", "--private", "--commit_message", "--token", "--dry_run"):
        assert flag in help_text
    listed = push.main(["--model_dir", str(saved_package), "--repo_id", REPO_ID, "--dry_run"])
    assert set(listed) == PACKAGE_FILES | {"eval_results.json"} and hub.uploads == []
    assert capsys.readouterr().out.split() == listed
    url = push.main(["--model_dir", str(saved_package), "--repo_id", REPO_ID, "--private", "--token", "hf_x"])
    assert capsys.readouterr().out.strip() == url
    assert hub.repos == [{"repo_id": REPO_ID, "private": True, "exist_ok": True, "token": "hf_x"}]
    assert hub.uploads[0]["token"] == "hf_x"
    with pytest.raises(ValueError, match="create_pr=True"):
        publish.push_model_folder_to_hub(saved_package, REPO_ID, create_pr=True, revision="v1")


def test_spmd_trainer_push_to_hub_uploads_our_model_card(tmp_path, hub):
    def compute_metrics(prediction) -> dict:  # a stand-in score, logged as eval_rougeL_f1
        return {"rougeL_f1": 100.0 * float((prediction.predictions > 2).mean())}

    args = spmd_args(
        tmp_path / "out",
        max_steps=2,
        save_strategy="steps",
        save_steps=1,
        push_to_hub=True,
        hub_model_id=REPO_ID,
        hub_strategy="end",
        predict_with_generate=True,
        generation_max_length=6,
        per_device_eval_batch_size=8,
        mixing_strategy="select",
        self_paced_scheme="hard",
    )
    trainer = SPMDTrainer(
        model=as_nar_student(tiny_model(init_std=0.3)),
        args=args,
        train_dataset=toy_examples(8),
        eval_dataset=[{k: v for k, v in row.items() if k != "distilled_labels"} for row in toy_examples(4, seed=1)],
        data_collator=SPMDDataCollator(0, 2),
        processing_class=tiny_tokenizer(),
        compute_metrics=compute_metrics,
    )
    assert hub.repos[0]["repo_id"] == REPO_ID  # Trainer.init_hf_repo
    trainer.train()
    score = trainer.evaluate()["eval_rougeL_f1"]
    trainer.push_to_hub(dataset_tags="bang-user/toy", dataset="toy pairs", finetuned_from="bang-user/bang-tiny")
    (upload,) = hub.uploads
    files = set(upload["files"])
    assert (tmp_path / "out" / "checkpoint-2" / "optimizer.pt").is_file()  # there, and not uploaded
    assert files == PACKAGE_FILES | {"training_args.bin"}  # the Trainer's own upload also sends its arguments
    card = ModelCard(upload["files"]["README.md"].decode("utf-8"))
    assert {"custom_code", "bang", "spmd"} <= set(card.data.tags)
    assert card.data.base_model == "bang-user/bang-tiny" and card.data.datasets == ["bang-user/toy"]
    assert [(e.metric_name, e.metric_value) for e in card.data.eval_results] == [("ROUGE-L F1 (NAR)", score)]
    assert "| mixing_strategy | select |" in card.text and "| optimizer steps | 2 |" in card.text
    assert publish.files_to_upload(tmp_path / "out") == sorted(PACKAGE_FILES)  # and bang-push accepts the folder
    publish.check_model_folder(tmp_path / "out")


def test_trainer_card_without_evaluation_says_so(tmp_path):
    trainer = SPMDTrainer(
        model=as_nar_student(tiny_model()),
        args=spmd_args(tmp_path, mixing_strategy="gold", self_paced_scheme="none"),
        train_dataset=toy_examples(4),
        data_collator=SPMDDataCollator(0, 2),
    )
    trainer.save_model()  # the card reads the saved folder; push_to_hub saves before writing the card
    trainer.create_model_card(model_name="bang-tiny-nar")
    card = ModelCard.load(tmp_path / "README.md")
    assert "No evaluation results were recorded" in card.text and card.data.eval_results is None
    assert "spmd" not in card.data.tags and "custom_code" in card.data.tags
    assert "BANG's NAR baseline" in card.text and "| mixing_strategy | gold |" in card.text


def test_export_copies_exactly_what_would_be_uploaded_and_refuses_to_overwrite(saved_package, hub, tmp_path):
    target = tmp_path / "shipped"
    listed = push.main(["--model_dir", str(saved_package), "--export_dir", str(target)])
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == listed
    assert set(listed) == PACKAGE_FILES | {"eval_results.json"} and hub.uploads == []
    assert (target / "model.safetensors").read_bytes() == (saved_package / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="not empty"):
        publish.export_model_folder(saved_package, target)
    assert publish.export_model_folder(saved_package, target, overwrite=True) == listed
    with pytest.raises(SystemExit):  # --repo_id and --export_dir exclude each other
        push.main(["--model_dir", str(saved_package), "--repo_id", REPO_ID, "--export_dir", str(target)])
