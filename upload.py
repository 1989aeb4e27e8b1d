"""Publish student folders to the Hugging Face Hub, after checking that each one works on its own.

    python upload.py --model-dir runs/student-nsmc --repo-id ORG/kr-electra-small-kd-nsmc [--private]
        [--revision BRANCH] [--commit-message "..."] [--dry-run]
    python upload.py --all runs/students --repo-id ORG        # each folder as ORG/<folder name>

Before any network call each folder is checked: a config with `auto_map`, the code files it names, safetensors
weights, a tokenizer, a model card whose metadata the Hub will accept, and a load with `trust_remote_code=True` in a
fresh process with the Hub offline. Then the repo is created if needed and the folder is uploaded in one commit, so a
failure leaves the repo as it was. The token comes from HF_TOKEN or `huggingface-cli login`. `--dry-run` runs every
check and prints what would be sent.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
LOAD_CHECK = """
import sys, transformers
from transformers import AutoConfig
config = AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True)
architecture = config.architectures[0]
name = "AutoModel" + architecture.removeprefix("KRElectraKD").removeprefix("Model")
getattr(transformers, name).from_pretrained(sys.argv[1], trust_remote_code=True)
transformers.AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
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
    if not ((model_dir / "tokenizer.json").is_file() or (model_dir / "vocab.txt").is_file()):
        raise UploadError(f"{model_dir} has no tokenizer: save the tokenizer into it (tokenizer.save_pretrained).")
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
    return metadata


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
            ignore_patterns=["checkpoint-*", "checkpoints/*", "*.bin", "*.pt", ".done"],
        )
    except Exception as error:  # noqa: BLE001 - network, auth and Hub errors all end in one line
        name = type(error).__name__
        if "connect" in str(error).lower() or "resolve" in str(error).lower() or "Connect" in name:
            raise UploadError(f"cannot reach the Hugging Face Hub ({name}); check the network and try again.") from None
        raise UploadError(f"the Hub refused the upload to {repo_id} ({name}: {str(error).splitlines()[0]}).") from None
    return getattr(commit, "commit_url", str(commit))


def resolve_token() -> str:
    from huggingface_hub import get_token

    token = os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise UploadError("no Hugging Face token: set HF_TOKEN or run `huggingface-cli login`.")
    return token


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="upload.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", type=Path, help="The student folder to publish.")
    source.add_argument("--all", type=Path, help="Publish every model folder under this folder (ORG/<folder name>).")
    parser.add_argument("--repo-id", required=True, help="ORG/NAME (with --all: ORG, or ORG/PREFIX-).")
    parser.add_argument("--private", action="store_true", help="Create the repo as private.")
    parser.add_argument("--revision", help="Upload to this branch (created if needed) instead of main.")
    parser.add_argument("--commit-message", default="Upload kr-electra-kd student", help="The commit message.")
    parser.add_argument("--dry-run", action="store_true", help="Run every check and print what would be sent.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
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
        checked = []
        for folder, repo_id in targets:  # every folder is checked before anything is sent
            metadata = check_folder(folder)
            check_loads_in_fresh_process(folder)
            checked.append((folder, repo_id, metadata))
        if args.dry_run:
            for folder, repo_id, metadata in checked:
                files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
                files = [f for f in files if not f.startswith(("checkpoint", ".done"))]
                print(f"[dry run] {folder} -> {repo_id} ({'private' if args.private else 'public'}"
                      f"{', branch ' + args.revision if args.revision else ''})")  # fmt: skip
                print("  files: " + ", ".join(files))
                print("  card metadata: " + json.dumps(metadata, ensure_ascii=False))
            return 0
        token = resolve_token()
        for folder, repo_id, _ in checked:
            url = upload(folder, repo_id, args.private, args.revision, args.commit_message, token)
            print(f"uploaded {folder} -> {repo_id}: {url}")
    except UploadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
