"""The `kr-electra-kd` command: one sub-command per job, each implemented by a module's `main(argv)`.

Modules are imported only when their sub-command runs, so `kr-electra-kd --help` is instant and a
broken optional dependency of one job does not break the others.
"""

from __future__ import annotations

import importlib
import sys

# sub-command -> ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": (
        "training.quickstart:main",
        "the whole pipeline on embedded defaults: tokenizer, teacher, distilled student, fine-tune, card",
    ),
    "train-tokenizer": (
        "training.tokenizer:main",
        "learn a morpheme-aware Korean WordPiece vocabulary from a text corpus",
    ),
    "pretrain-teacher": (
        "training.pretrain:main",
        "ELECTRA pre-training (generator + discriminator) of a teacher from plain text",
    ),
    "distill": ("training.distill:main", "distil a teacher into a (low-rank) student, task-agnostic or for one task"),
    "convert": (
        "training.lowrank:main",
        "convert a dense model (this family, ELECTRA or BERT) to low rank by truncated SVD",
    ),
    "finetune": ("training.finetune:main", "fine-tune a model on a Korean task and write a results JSON"),
    "evaluate": ("training.evaluate:main", "evaluate a fine-tuned model on a Korean task and write a results JSON"),
    "tasks": ("training.tasks:main", "list the Korean tasks, their data sources and metrics"),
    "card": ("model_cards.generate:main", "write a model card (README.md) for a student folder from its results"),
    "export": ("training.export:main", "export a model as ONNX (optionally int8) for onnxruntime, transformers.js"),
}


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
    lines += ["", "Run `kr-electra-kd <command> --help` for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"kr-electra-kd: unknown command {command!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    target, _ = COMMANDS[command]
    module_name, function_name = target.split(":")
    entry = getattr(importlib.import_module(module_name), function_name)
    result = entry(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
