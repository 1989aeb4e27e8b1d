"""`kr-electra-kd upload` (= `python upload.py`): check student folders and publish them to the Hugging Face Hub; the
library is training/publishing.py.

    kr-electra-kd upload --model runs/student-nsmc --repo_id ORG/kr-electra-small-kd-nsmc [--private]
        [--revision BRANCH] [--commit_message "..."] [--dry_run]
    kr-electra-kd upload --all runs/students --repo_id ORG        # each folder as ORG/<folder name>

Every folder is checked before anything is sent (files, card metadata and results, no local paths, a load in a fresh
process with the Hub offline); then each is uploaded in one commit. The token comes from HF_TOKEN or the Hugging Face
CLI's login. `--dry_run` runs every check and prints what would be sent.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from training.errors import CommandError, bad_input, one_line_errors

# The flags before they were snake_case (and the model folder's before every command called it --model): still
# accepted, with one deprecation line.
OLD_SPELLINGS = {
    "--model_dir": "--model",
    "--model-dir": "--model",
    "--repo-id": "--repo_id",
    "--commit-message": "--commit_message",
    "--dry-run": "--dry_run",
}


@dataclass
class UploadArguments:
    repo_id: str = field(metadata={"help": "ORG/NAME (with --all: ORG, or ORG/PREFIX-)."})
    model: str | None = field(
        default=None, metadata={"help": "The student folder to publish (old spelling: --model_dir)."}
    )
    all: str | None = field(
        default=None, metadata={"help": "Publish every model folder under this folder (as ORG/<folder name>)."}
    )
    private: bool = field(default=False, metadata={"help": "Create the repo as private."})
    revision: str | None = field(
        default=None, metadata={"help": "Upload to this branch (created if needed) instead of main."}
    )
    commit_message: str = field(default="Upload kr-electra-kd student", metadata={"help": "The commit message."})
    dry_run: bool = field(default=False, metadata={"help": "Run every check and print what would be sent."})
    onnx_dir: str | None = field(
        default=None,
        metadata={"help": "With --model: also push this export folder's web files to the companion REPO_ID-ONNX."},
    )


@one_line_errors
def main(argv: list[str] | None = None, prog: str = "kr-electra-kd upload") -> int:
    """`kr-electra-kd upload` and `python upload.py` (the script at the repository root)."""
    from training.arguments import parse_command, with_new_spellings
    from training.onnx_export import push_web_repo, web_repo_files, web_repo_id
    from training.publishing import (
        HubError,
        check_folder,
        check_loads_in_fresh_process,
        print_plan,
        publish_targets,
        push,
        resolve_token,
    )

    argv = with_new_spellings(list(sys.argv[1:] if argv is None else argv), OLD_SPELLINGS, prog)
    (args,) = parse_command((UploadArguments,), argv, prog)
    with bad_input():
        # the companion web repo (training/onnx_export.py), checked before anything is sent too
        web_files = web_repo_files(Path(args.onnx_dir)) if args.onnx_dir else []
        checked = []
        for folder, repo_id in publish_targets(args.repo_id, args.model, args.all):
            checked.append((folder, repo_id, check_folder(folder)))  # every folder is checked before anything is sent
            check_loads_in_fresh_process(folder)
        if args.dry_run:
            print_plan(checked, args.private, args.revision)
            if args.onnx_dir:
                print(f"[dry run] {args.onnx_dir} -> {web_repo_id(args.repo_id)}: {', '.join(web_files)}")
            return 0
        token = resolve_token()
    for folder, repo_id, _ in checked:
        try:
            url = push(Path(folder), repo_id, token, args.private, args.revision, args.commit_message)
        except HubError as error:  # the network or the Hub, not the input
            raise CommandError(str(error), code=1) from None
        print(f"uploaded {folder} -> {repo_id}: {url}")
    if args.onnx_dir:
        url = push_web_repo(Path(args.onnx_dir), args.repo_id, token, args.private, args.commit_message)
        print(f"uploaded {args.onnx_dir} -> {web_repo_id(args.repo_id)}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
