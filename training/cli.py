"""The `kr-electra-kd` command: one sub-command per job, each implemented by `main(argv)` of a module in commands/.

Modules are imported only when their sub-command runs, so `kr-electra-kd --help` is instant and a
broken optional dependency of one job does not break the others. `kr-electra-kd <command> --help` prints the
command's short help stored in training/help/ (building the parser imports transformers and torch: 5-10 s);
`python scripts/update_help.py` regenerates those files and a test checks they are current.
"""

from __future__ import annotations

import difflib
import importlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from training.stop_signals import STOP_SIGNALS, exit_status, interrupted_message, stopping_at_once

# sub-command -> ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": (
        "training.commands.quickstart:main",
        "the whole pipeline on embedded defaults: tokenizer, teacher, distilled student, fine-tune, card",
    ),
    "train-tokenizer": (
        "training.commands.train_tokenizer:main",
        "learn a morpheme-aware Korean WordPiece vocabulary from a text corpus",
    ),
    "pretrain-teacher": (
        "training.commands.pretrain_teacher:main",
        "ELECTRA pre-training (generator + discriminator) of a teacher from plain text",
    ),
    "distill": (
        "training.commands.distill:main",
        "distil a teacher into a (low-rank) student, task-agnostic or for one task",
    ),
    "convert": (
        "training.commands.convert:main",
        "convert a dense model (this family, ELECTRA or BERT) to low rank by truncated SVD",
    ),
    "finetune": ("training.commands.finetune:main", "fine-tune a model on a Korean task and write a results JSON"),
    "evaluate": (
        "training.commands.evaluate:main",
        "evaluate a fine-tuned model on a Korean task and write a results JSON",
    ),
    "tasks": ("training.commands.tasks:main", "list the Korean tasks, their data sources and metrics"),
    "card": ("training.commands.card:main", "write a model card (README.md) for a student folder from its results"),
    "export": (
        "training.commands.export:main",
        "export a model as ONNX (optionally int8) for onnxruntime, transformers.js",
    ),
    "demo": (
        "training.commands.demo:main",
        "serve an export folder and a demo page on 127.0.0.1 (transformers.js in the browser, offline)",
    ),
    "upload": (
        "training.commands.upload:main",
        "check student folders and publish them to the Hugging Face Hub (= python upload.py)",
    ),
}


# training/help/<command>.txt: each command's short --help, rendered at HELP_COLUMNS wide.
HELP_DIR = Path(__file__).resolve().parent / "help"
HELP_COLUMNS = 100


def _entry(command: str) -> Callable[[list[str]], int | None]:
    module_name, function_name = COMMANDS[command][0].split(":")
    return getattr(importlib.import_module(module_name), function_name)


# Exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_CODE = STOP_SIGNALS[signal.SIGINT]


def _run(command: str, argv: list[str]) -> int:
    from training.errors import CommandError, report
    from training.threads import configure_threads

    configure_threads()  # before the command imports torch: see training/threads.py
    try:
        with stopping_at_once():  # SIGTERM before (or after) training: one line and 143, as Ctrl-C's 130
            result = _entry(command)(argv)
    except CommandError as error:  # a command's own `one_line_errors` reports it first; this catches one without
        return report(error)
    except SystemExit as stop:  # argparse's exit (help, or a one-line usage error) ends only this command
        return stop.code if isinstance(stop.code, int) else 2
    except KeyboardInterrupt as interrupt:  # training/stop_signals.py: the step and the checkpoint to resume from
        print(interrupted_message(interrupt), file=sys.stderr)
        return exit_status(interrupt)
    close_process_group()
    return int(result or 0)


def close_process_group() -> None:
    """Under torchrun or accelerate, wait for every process and destroy the process group before exit.

    Trainer never destroys the group it creates. Left to interpreter exit, a rank that finishes while another is
    still saving can abort with "terminate called without an active exception" after all its work is done (seen
    in about 1 run in 8 with two gloo processes), which fails the whole launch.
    """
    distributed = sys.modules.get("torch.distributed")  # a command that never imported torch has no group
    if distributed is None or not distributed.is_available() or not distributed.is_initialized():
        return
    distributed.barrier()
    distributed.destroy_process_group()


def render_help(command: str) -> str:
    """`command`'s short --help as its parser prints it now, HELP_COLUMNS wide: what HELP_DIR stores."""
    import contextlib
    import io
    from unittest import mock

    buffer = io.StringIO()
    # argparse wraps to $COLUMNS; NO_COLOR keeps Python 3.14's colours out of the stored text
    with mock.patch.dict(os.environ, {"COLUMNS": str(HELP_COLUMNS), "NO_COLOR": "1"}):
        with contextlib.redirect_stdout(buffer):
            _run(command, ["--help"])
    return buffer.getvalue()


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: kr-electra-kd <command> [options]",
        "",
        "Small, fast Korean ELECTRA models by knowledge distillation and low-rank factorization.",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run `kr-electra-kd <command> --help` for the options of one command; `--version` for the version."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from training import __version__

        print(f"kr-electra-kd {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(f"kr-electra-kd: unknown command {command!r}; {hint}`kr-electra-kd --help` lists them.", file=sys.stderr)
        return 2
    stored = HELP_DIR / f"{command}.txt"
    if rest in (["--help"], ["-h"]) and stored.is_file():  # without a stored file (a new command) help is built live
        sys.stdout.write(stored.read_text(encoding="utf-8"))
        return 0
    return _run(command, rest)


if __name__ == "__main__":
    sys.exit(main())
