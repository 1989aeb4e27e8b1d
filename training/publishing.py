"""Publishing model folders to the Hugging Face Hub, after checking that each one works on its own.

Before any network call each folder is checked (`check_folder`, `check_loads_in_fresh_process`): a config with
`auto_map`, the code files it names, safetensors weights, a tokenizer, a model card whose metadata the Hub will
accept, a card whose results are those of the folder's results file (with a `model-index`), no local path in anything
that would be sent (`files_to_send`), and a load with `trust_remote_code=True` in a fresh process with the Hub
offline. `push` then creates the repo if needed and uploads the folder in one commit, so a failure leaves the repo as
it was. `resolve_token` reads HF_TOKEN or the Hugging Face CLI's login.

Every problem is a `PublishError` (a ValueError: bad input, with what to do about it) or, for the Hub itself
(network, auth, refusal), a `HubError`; each is one line.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from training.defaults import RESULTS_FILE
from training.heads import head_of_config
from training.outputs import LOCK_FILE, PARTIAL_MARK

# What upload_folder leaves out of a model folder: checkpoints, pickles, and a run's lock and the temporary files a
# killed run may leave (training/outputs.py).
IGNORE_PATTERNS = (
    "checkpoint-*",
    "checkpoints/*",
    "*.bin",
    "*.pt",
    ".done",
    f"*{LOCK_FILE}",
    ".tmp*",
    f"*{PARTIAL_MARK}*",
)
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
# Run in a fresh process: argv[1] the folder, argv[2] the Auto class of its head (training.heads).
LOAD_CHECK = """
import sys, transformers
getattr(transformers, sys.argv[2]).from_pretrained(sys.argv[1], trust_remote_code=True)
transformers.AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
transformers.PreTrainedTokenizerFast.from_pretrained(sys.argv[1])  # the load without remote code README shows
print("ok", sys.argv[2])
"""
DEFAULT_COMMIT_MESSAGE = "Upload kr-electra-kd student"


class PublishError(ValueError):
    """A folder, repo id or setup that cannot be published, in one line with what to do about it."""


class HubError(RuntimeError):
    """The Hub could not be reached, or refused the upload."""


def publish_targets(repo_id: str, model_dir: str | Path | None = None, all_dir: str | Path | None = None) -> list:
    """[(folder, repo id)] to publish: `model_dir` as `repo_id`, or each model folder under `all_dir` as
    `repo_id/<folder name>` (`repo_id` an owner) or `repo_id<folder name>` (`repo_id` an ORG/PREFIX-)."""
    if (model_dir is None) == (all_dir is None):
        raise PublishError("pass exactly one of --model (one folder) and --all (a folder of model folders).")
    if all_dir is not None:
        all_dir = Path(all_dir)
        if not all_dir.is_dir():
            raise PublishError(f"{all_dir} is not a folder of model folders.")
        folders = sorted(path.parent for path in all_dir.glob("*/config.json"))
        if not folders:
            raise PublishError(f"no model folders (with config.json) under {all_dir}.")
        owner = repo_id.rstrip("/")
        targets = [
            (folder, f"{owner}/{folder.name}" if "/" not in owner else f"{owner}{folder.name}") for folder in folders
        ]
    else:
        targets = [(Path(model_dir), repo_id)]
    for _, name in targets:
        if not REPO_ID.match(name):
            raise PublishError(f"repo id {name!r} is not of the form ORG/NAME (letters, digits, . _ -).")
    return targets


def check_folder(model_dir: Path) -> dict:
    """Every check that needs no network; returns the card metadata. Raises PublishError."""
    model_dir = Path(model_dir)
    _check_config(model_dir)
    if not (model_dir / "model.safetensors").is_file():
        raise PublishError(f"{model_dir} has no model.safetensors: save the weights with save_pretrained.")
    from training.loading import check_weights

    try:
        check_weights(model_dir)  # the loader's own check: one line, where the load check would end in a traceback
    except ValueError as error:
        raise PublishError(str(error)) from None
    if not ((model_dir / "tokenizer.json").is_file() or (model_dir / "vocab.txt").is_file()):
        raise PublishError(f"{model_dir} has no tokenizer: save the tokenizer into it (tokenizer.save_pretrained).")
    check_tokenizer_config(model_dir)
    metadata, card_text = _read_card(model_dir)
    check_card_results(model_dir, metadata, card_text)
    check_no_local_paths(model_dir, metadata, card_text)
    return metadata


def _check_config(model_dir: Path) -> dict:
    """config.json, with an `auto_map` naming code files the folder holds."""
    if not model_dir.is_dir():
        raise PublishError(f"{model_dir} is not a folder: pass a model folder written by save_pretrained.")
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        raise PublishError(f"{model_dir} has no config.json: save the model with save_pretrained first.")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    auto_map = config.get("auto_map")
    if not auto_map:
        raise PublishError(f"{config_file} has no auto_map: save the model with this package's save_pretrained.")
    for reference in auto_map.values():
        if "--" in reference:
            raise PublishError(
                f"auto_map points at another repo ({reference}): re-save the model with save_pretrained."
            )
        code_file = model_dir / f"{reference.split('.')[0]}.py"
        if not code_file.is_file():
            raise PublishError(f"{code_file.name} (named in auto_map) is missing from {model_dir}: re-save the model.")
    return config


def _read_card(model_dir: Path) -> tuple[dict, str]:
    """The card's metadata and text, as the Hub will validate them."""
    card_file = model_dir / "README.md"
    if not card_file.is_file():
        raise PublishError(f"{model_dir} has no README.md: write its card with `kr-electra-kd card --model ...`.")
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    try:
        card = ModelCard.load(card_file, ignore_metadata_errors=False)
        metadata = card.data.to_dict()
        if "model-index" in metadata:
            model_index_to_eval_results(metadata["model-index"])  # the Hub rejects a malformed model-index
    except Exception as error:  # noqa: BLE001 - any parse problem is the same one-line report
        raise PublishError(
            f"{card_file} has invalid metadata ({error}); regenerate it with `kr-electra-kd card`."
        ) from None
    for key in ("language", "license", "library_name"):
        if not metadata.get(key):
            raise PublishError(f"{card_file} metadata lacks {key!r}; regenerate it with `kr-electra-kd card`.")
    return metadata, card.text


def check_tokenizer_config(model_dir: Path) -> None:
    """tokenizer_config.json holds only what describes the tokenizer: keys that say how it was loaded or called
    (`is_local`, `local_files_only`, `max_length`, ...) would be published and mislead whoever loads it."""
    from training.tokenizer import runtime_tokenizer_keys

    config_file = model_dir / "tokenizer_config.json"
    if not config_file.is_file():
        return
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PublishError(f"{config_file} is not valid JSON ({error}).") from None
    runtime = runtime_tokenizer_keys(config)
    if runtime:
        raise PublishError(
            f"{config_file} holds run-time keys {', '.join(runtime)} (how the tokenizer was loaded or called, not "
            "what it is); re-save it with training.tokenizer.save_tokenizer, or delete those keys."
        )


def _claims(eval_results) -> set[tuple]:
    return {
        (result.dataset_type, result.dataset_split, result.metric_type, round(float(result.metric_value), 4))
        for result in eval_results
    }


def check_card_results(model_dir: Path, metadata: dict, card_text: str) -> None:
    """The card states exactly the scores of the folder's results file, on the data they were measured on."""
    from huggingface_hub.repocard_data import model_index_to_eval_results

    from training.model_card import RESULTS_TABLE_MARK, eval_results, load_results

    results_file = model_dir / RESULTS_FILE
    card_file = model_dir / "README.md"
    if not metadata.get("model-index"):
        if results_file.is_file() or RESULTS_TABLE_MARK in card_text:
            raise PublishError(
                f"{card_file} shows results but has no model-index metadata; regenerate it with `kr-electra-kd card "
                f"--model {model_dir} --results {results_file}`."
            )
        return
    if not results_file.is_file():
        raise PublishError(
            f"{card_file} states results (model-index) but {model_dir} has no {RESULTS_FILE} to back them; "
            f"regenerate the card without --results, or add the {RESULTS_FILE} they came from."
        )
    try:
        expected = _claims(eval_results(load_results([results_file]), model_dir.name))
    except (ValueError, KeyError) as error:
        raise PublishError(f"{results_file} cannot be read ({error}); rerun `kr-electra-kd finetune`.") from None
    _, stated = model_index_to_eval_results(metadata["model-index"])
    if _claims(stated) != expected:
        wrong = sorted(map(str, _claims(stated) ^ expected))[0]
        raise PublishError(
            f"{card_file} model-index does not match {results_file} (e.g. {wrong}: dataset, split, metric, value); "
            f"regenerate the card with `kr-electra-kd card --model {model_dir} --results {results_file}`."
        )


def files_to_send(model_dir: Path) -> list[Path]:
    """The files `push` sends from `model_dir` (what IGNORE_PATTERNS leaves), sorted."""
    files = [path for path in sorted(model_dir.rglob("*")) if path.is_file()]
    # matched as upload_folder matches them: fnmatch on the relative path, where * also spans folders
    return [
        path
        for path in files
        if not any(fnmatch.fnmatch(path.relative_to(model_dir).as_posix(), pattern) for pattern in IGNORE_PATTERNS)
    ]


def check_no_local_paths(model_dir: Path, metadata: dict, card_text: str) -> None:
    """No file that would be sent names a path of this machine (absolute, or relative to where a command ran)."""
    from training.provenance import find_local_paths, find_local_paths_in_text

    found: list[tuple[str, str, str]] = [
        ("README.md", key, value) for key, value in find_local_paths(metadata, model_dir)
    ]
    found += [("README.md", "text", value) for value in find_local_paths_in_text(card_text)]
    for path in files_to_send(model_dir):
        if path.suffix != ".json" or path.name == "tokenizer.json":  # the vocabulary is data, not paths
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise PublishError(f"{path} is not valid JSON ({error}).") from None
        name = str(path.relative_to(model_dir))
        found += [(name, key, value) for key, value in find_local_paths(data, model_dir)]
    if found:
        name, key, value = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise PublishError(
            f"{model_dir / name} field {key!r} holds the local path {value!r}{more}: it would be published. Record "
            "it relative to the model folder or as a Hub id (rerun the command that wrote it, or edit the file)."
        )


def check_loads_in_fresh_process(model_dir: Path) -> None:
    """The folder loads with `trust_remote_code=True` (its head's Auto class, and its tokenizer) in a new Python with
    the Hub offline and without this checkout on the path: as it will load from the Hub."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_CHECK, str(model_dir.resolve()), head_of_config(config).auto_class],
        cwd=model_dir.resolve().parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise PublishError(f"{model_dir} does not load with trust_remote_code in a fresh process: {last}")


def push(
    model_dir: Path,
    repo_id: str,
    token: str,
    private: bool = False,
    revision: str | None = None,
    message: str = DEFAULT_COMMIT_MESSAGE,
) -> str:
    """Create `repo_id` if needed and upload `model_dir` (what `files_to_send` lists) in one commit; its URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(model_dir),
            commit_message=message,
            revision=revision,
            ignore_patterns=list(IGNORE_PATTERNS),
        )
    except Exception as error:  # noqa: BLE001 - network, auth and Hub errors all end in one line
        name = type(error).__name__
        if "connect" in str(error).lower() or "resolve" in str(error).lower() or "Connect" in name:
            raise HubError(f"cannot reach the Hugging Face Hub ({name}); check the network and try again.") from None
        raise HubError(f"the Hub refused the upload to {repo_id} ({name}: {str(error).splitlines()[0]}).") from None
    return getattr(commit, "commit_url", str(commit))


def login_command() -> str:
    """The login command of the installed huggingface_hub: `hf auth login` (its `hf` CLI, 0.34 on), else
    `huggingface-cli login`."""
    try:
        from huggingface_hub.cli import hf  # noqa: F401 - present in the versions that ship the `hf` command
    except ImportError:
        return "huggingface-cli login"
    return "hf auth login"


def resolve_token() -> str:
    """HF_TOKEN, else the token of the Hugging Face CLI's login."""
    from huggingface_hub import get_token

    token = os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise PublishError(f"no Hugging Face token: set HF_TOKEN or run `{login_command()}`.")
    return token


def print_plan(checked: list[tuple[Path, str, dict]], private: bool, revision: str | None) -> None:
    """What `upload --dry_run` would send: each (folder, repo id, card metadata) with its files."""
    where = ("private" if private else "public") + (f", branch {revision}" if revision else "")
    for folder, repo_id, metadata in checked:
        print(f"[dry run] {folder} -> {repo_id} ({where})")
        print("  files: " + ", ".join(str(path.relative_to(folder)) for path in files_to_send(folder)))
        print("  card metadata: " + json.dumps(metadata, ensure_ascii=False))
