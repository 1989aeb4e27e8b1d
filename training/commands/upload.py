"""Publish student folders to the Hugging Face Hub, after checking that each one works on its own.

    python upload.py --model-dir runs/student-nsmc --repo-id ORG/kr-electra-small-kd-nsmc [--private]
        [--revision BRANCH] [--commit-message "..."] [--dry-run]
    python upload.py --all runs/students --repo-id ORG        # each folder as ORG/<folder name>

Before any network call each folder is checked: a config with `auto_map`, the code files it names, safetensors
weights, a tokenizer, a model card whose metadata the Hub will accept, a card whose results are those of the folder's
results.json (with a `model-index`), no local path in anything that would be sent, and a load with
`trust_remote_code=True` in a fresh process with the Hub offline. Then the repo is created if needed and the folder is
uploaded in one commit, so a failure leaves the repo as it was. The token comes from HF_TOKEN or the Hugging Face CLI's login (`hf auth login`
with huggingface_hub 0.34 on, `huggingface-cli login` before). `--dry-run` runs every check and prints what would be
sent.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

# What upload_folder leaves out of a model folder.
IGNORE_PATTERNS = ("checkpoint-*", "checkpoints/*", "*.bin", "*.pt", ".done")
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
LOAD_CHECK = """
import sys, transformers
from transformers import AutoConfig
config = AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True)
architecture = config.architectures[0]
name = "AutoModel" + architecture.removeprefix("KRElectraKD").removeprefix("Model")
getattr(transformers, name).from_pretrained(sys.argv[1], trust_remote_code=True)
transformers.AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
transformers.PreTrainedTokenizerFast.from_pretrained(sys.argv[1])  # the load without remote code README shows
print("ok", name)
"""


class UploadError(Exception):
    """A problem to report in one line, with what to do about it."""


def check_folder(model_dir: Path) -> dict:
    """Every check that needs no network; returns the card metadata. Raises UploadError."""
    if not model_dir.is_dir():
        raise UploadError(f"{model_dir} is not a folder: pass a model folder written by save_pretrained.")
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        raise UploadError(f"{model_dir} has no config.json: save the model with save_pretrained first.")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    auto_map = config.get("auto_map")
    if not auto_map:
        raise UploadError(f"{config_file} has no auto_map: save the model with this package's save_pretrained.")
    for reference in auto_map.values():
        if "--" in reference:
            raise UploadError(f"auto_map points at another repo ({reference}): re-save the model with save_pretrained.")
        code_file = model_dir / f"{reference.split('.')[0]}.py"
        if not code_file.is_file():
            raise UploadError(f"{code_file.name} (named in auto_map) is missing from {model_dir}: re-save the model.")
    if not (model_dir / "model.safetensors").is_file():
        raise UploadError(f"{model_dir} has no model.safetensors: save the weights with save_pretrained.")
    from training.loading import check_weights

    try:
        check_weights(model_dir)  # the loader's own check: one line, where the load check would end in a traceback
    except ValueError as error:
        raise UploadError(str(error)) from None
    if not ((model_dir / "tokenizer.json").is_file() or (model_dir / "vocab.txt").is_file()):
        raise UploadError(f"{model_dir} has no tokenizer: save the tokenizer into it (tokenizer.save_pretrained).")
    check_tokenizer_config(model_dir)
    card_file = model_dir / "README.md"
    if not card_file.is_file():
        raise UploadError(f"{model_dir} has no README.md: write its card with `kr-electra-kd card --model_dir ...`.")
    from huggingface_hub import ModelCard

    try:
        card = ModelCard.load(card_file, ignore_metadata_errors=False)
        metadata = card.data.to_dict()
        from huggingface_hub.repocard_data import model_index_to_eval_results

        if "model-index" in metadata:
            model_index_to_eval_results(metadata["model-index"])  # the Hub rejects a malformed model-index
    except Exception as error:  # noqa: BLE001 - any parse problem is the same one-line report
        raise UploadError(
            f"{card_file} has invalid metadata ({error}); regenerate it with `kr-electra-kd card`."
        ) from None
    for key in ("language", "license", "library_name"):
        if not metadata.get(key):
            raise UploadError(f"{card_file} metadata lacks {key!r}; regenerate it with `kr-electra-kd card`.")
    check_card_results(model_dir, metadata, card.text)
    check_no_local_paths(model_dir, metadata, card.text)
    return metadata


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
        raise UploadError(f"{config_file} is not valid JSON ({error}).") from None
    runtime = runtime_tokenizer_keys(config)
    if runtime:
        raise UploadError(
            f"{config_file} holds run-time keys {', '.join(runtime)} (how the tokenizer was loaded or called, not "
            "what it is); re-save it with training.tokenizer.save_tokenizer, or delete those keys."
        )


def _claims(eval_results) -> set[tuple]:
    return {
        (result.dataset_type, result.dataset_split, result.metric_type, round(float(result.metric_value), 4))
        for result in eval_results
    }


def check_card_results(model_dir: Path, metadata: dict, card_text: str) -> None:
    """The card states exactly the scores of the folder's results.json, on the data they were measured on."""
    from huggingface_hub.repocard_data import model_index_to_eval_results

    from training.model_card import RESULTS_TABLE_MARK, _eval_results, _load_results

    results_file = model_dir / "results.json"
    card_file = model_dir / "README.md"
    has_index = bool(metadata.get("model-index"))
    if not has_index:
        if results_file.is_file() or RESULTS_TABLE_MARK in card_text:
            raise UploadError(
                f"{card_file} shows results but has no model-index metadata; regenerate it with `kr-electra-kd card "
                f"--model_dir {model_dir} --results {results_file}`."
            )
        return
    if not results_file.is_file():
        raise UploadError(
            f"{card_file} states results (model-index) but {model_dir} has no results.json to back them; regenerate "
            "the card without --results, or add the results.json they came from."
        )
    try:
        expected = _claims(_eval_results(_load_results([results_file]), model_dir.name))
    except (ValueError, KeyError) as error:
        raise UploadError(f"{results_file} cannot be read ({error}); rerun `kr-electra-kd finetune`.") from None
    _, stated = model_index_to_eval_results(metadata["model-index"])
    if _claims(stated) != expected:
        wrong = sorted(map(str, _claims(stated) ^ expected))[0]
        raise UploadError(
            f"{card_file} model-index does not match {results_file} (e.g. {wrong}: dataset, split, metric, value); "
            f"regenerate the card with `kr-electra-kd card --model_dir {model_dir} --results {results_file}`."
        )


def files_to_send(model_dir: Path) -> list[Path]:
    """The files `upload_folder` sends (what IGNORE_PATTERNS leaves)."""
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
            raise UploadError(f"{path} is not valid JSON ({error}).") from None
        name = str(path.relative_to(model_dir))
        found += [(name, key, value) for key, value in find_local_paths(data, model_dir)]
    if found:
        name, key, value = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UploadError(
            f"{model_dir / name} field {key!r} holds the local path {value!r}{more}: it would be published. Record "
            "it relative to the model folder or as a Hub id (rerun the command that wrote it, or edit the file)."
        )


def check_loads_in_fresh_process(model_dir: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_CHECK, str(model_dir.resolve())],
        cwd=model_dir.resolve().parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise UploadError(f"{model_dir} does not load with trust_remote_code in a fresh process: {last}")


def upload(model_dir: Path, repo_id: str, private: bool, revision: str | None, message: str, token: str) -> str:
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
            raise UploadError(f"cannot reach the Hugging Face Hub ({name}); check the network and try again.") from None
        raise UploadError(f"the Hub refused the upload to {repo_id} ({name}: {str(error).splitlines()[0]}).") from None
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
    from huggingface_hub import get_token

    token = os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise UploadError(f"no Hugging Face token: set HF_TOKEN or run `{login_command()}`.")
    return token


def parse_arguments(argv: list[str] | None, prog: str = "upload.py") -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", type=Path, help="The student folder to publish.")
    source.add_argument("--all", type=Path, help="Publish every model folder under this folder (ORG/<folder name>).")
    parser.add_argument("--repo-id", required=True, help="ORG/NAME (with --all: ORG, or ORG/PREFIX-).")
    parser.add_argument("--private", action="store_true", help="Create the repo as private.")
    parser.add_argument("--revision", help="Upload to this branch (created if needed) instead of main.")
    parser.add_argument("--commit-message", default="Upload kr-electra-kd student", help="The commit message.")
    parser.add_argument("--dry-run", action="store_true", help="Run every check and print what would be sent.")
    parser.add_argument(
        "--onnx-dir", type=Path, help="With --model-dir: also push this export folder's web files to REPO-ID-ONNX."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "kr-electra-kd upload") -> int:
    """`python upload.py` (the script at the repository root) and `kr-electra-kd upload`."""
    args = parse_arguments(argv, prog)
    try:
        if args.all is not None:
            if not args.all.is_dir():
                raise UploadError(f"{args.all} is not a folder of model folders.")
            folders = sorted(path.parent for path in args.all.glob("*/config.json"))
            if not folders:
                raise UploadError(f"no model folders (with config.json) under {args.all}.")
            owner = args.repo_id.rstrip("/")
            targets = [
                (folder, f"{owner}/{folder.name}" if "/" not in owner else f"{owner}{folder.name}")
                for folder in folders
            ]
        else:
            targets = [(args.model_dir, args.repo_id)]
        for _, repo_id in targets:
            if not REPO_ID.match(repo_id):
                raise UploadError(f"repo id {repo_id!r} is not of the form ORG/NAME (letters, digits, . _ -).")
        if args.onnx_dir is not None:  # the companion web repo (training/onnx_export.py), checked first too
            from training.onnx_export import push_web_repo, web_repo_files, web_repo_id

            try:
                web_files = web_repo_files(args.onnx_dir)
            except ValueError as error:
                raise UploadError(str(error)) from None
            if args.dry_run:
                print(f"[dry run] {args.onnx_dir} -> {web_repo_id(args.repo_id)}: {', '.join(web_files)}")
        checked = []
        for folder, repo_id in targets:  # every folder is checked before anything is sent
            metadata = check_folder(folder)
            check_loads_in_fresh_process(folder)
            checked.append((folder, repo_id, metadata))
        if args.dry_run:
            for folder, repo_id, metadata in checked:
                files = [str(path.relative_to(folder)) for path in files_to_send(folder)]
                print(f"[dry run] {folder} -> {repo_id} ({'private' if args.private else 'public'}"
                      f"{', branch ' + args.revision if args.revision else ''})")  # fmt: skip
                print("  files: " + ", ".join(files))
                print("  card metadata: " + json.dumps(metadata, ensure_ascii=False))
            return 0
        token = resolve_token()
        for folder, repo_id, _ in checked:
            url = upload(folder, repo_id, args.private, args.revision, args.commit_message, token)
            print(f"uploaded {folder} -> {repo_id}: {url}")
        if args.onnx_dir is not None:  # the companion web repo (training/onnx_export.py)
            print(f"uploaded {args.onnx_dir} -> {web_repo_id(args.repo_id)}: "
                  f"{push_web_repo(args.onnx_dir, args.repo_id, token, args.private, args.commit_message)}")  # fmt: skip
    except UploadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
