"""`kr-electra-kd convert`: convert a dense model to low rank by truncated SVD; the library is training/lowrank.py,
and training/rank_budget.py chooses per-matrix ranks for --target_mb / --target_ms.

    kr-electra-kd convert --model small-kd --output_dir lf --preset small-lf-v3        # the paper's ranks
    kr-electra-kd convert --model small-kd --output_dir lf --target_mb 17.9             # ranks for a file size
    kr-electra-kd convert --model small-kd --output_dir lf --target_ms 30 --batch 1 --seq 128   # for a latency here

The conversion lives in training/conversion.py (`run_conversion` runs one from keyword arguments); this module parses
the command line and reports errors.
"""

from __future__ import annotations

import sys

from training.arguments import parse_command
from training.conversion import ConvertArguments, plan_conversion, save_conversion
from training.errors import bad_input, one_line_errors
from training.outputs import guards_outputs

__all__ = ["ConvertArguments", "main"]


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    (args,) = parse_command((ConvertArguments,), argv, "kr-electra-kd convert")
    with bad_input():
        planned = plan_conversion(args)
    save_conversion(args, *planned)
    return 0


if __name__ == "__main__":
    sys.exit(main())
