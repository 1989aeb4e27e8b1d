"""`kr-electra-kd card`: write a model card (README.md) for a student folder from its results; the library is training/model_card.py."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from training.errors import bad_input, one_line_errors
from training.model_card import write_model_card
from training.outputs import guards_outputs

# The model folder's flag before every command called it --model: still accepted, with one deprecation line.
OLD_SPELLINGS = {"--model_dir": "--model", "--model-dir": "--model"}


@dataclass
class CardArguments:
    model: str = field(metadata={"help": "The model folder to write README.md into (old spelling: --model_dir)."})
    results: list[str] = field(default_factory=list, metadata={"help": "This model's results JSON files."})
    teacher_results: list[str] = field(default_factory=list, metadata={"help": "The teacher's results JSON files."})
    teacher: str | None = field(default=None, metadata={"help": "The teacher's Hub id (base_model) or path."})
    speed: str | None = field(default=None, metadata={"help": "A JSON file of CPU speed figures to show."})
    repo_id: str | None = field(default=None, metadata={"help": "The Hub repo id the card will live in."})


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    from training.arguments import parse_command, with_new_spellings

    prog = "kr-electra-kd card"
    argv = with_new_spellings(list(sys.argv[1:] if argv is None else argv), OLD_SPELLINGS, prog)
    (args,) = parse_command((CardArguments,), argv, prog)
    with bad_input():
        speed = json.loads(Path(args.speed).read_text(encoding="utf-8")) if args.speed else None
        write_model_card(
            args.model, args.results, args.teacher_results, teacher=args.teacher, speed=speed, repo_id=args.repo_id
        )
    print(f"Wrote {Path(args.model) / 'README.md'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
