"""`kr-electra-kd evaluate`: score a fine-tuned model on its Korean task and write a results JSON.

The library it calls (loading a model with a task head, scoring, the results JSON, and the run itself:
`run_evaluation` scores from keyword arguments) is training/evaluation.py; this module parses the command line and
reports errors.

    kr-electra-kd evaluate --model runs/nsmc --data-dir nsmc/
"""

from __future__ import annotations

import sys

from training.arguments import parse_command
from training.errors import bad_input, one_line_errors
from training.evaluation import DataArguments, EvaluateArguments, prepare_evaluation
from training.outputs import guards_outputs

__all__ = ["EvaluateArguments", "main"]


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    args, data_args = parse_command((EvaluateArguments, DataArguments), argv, "kr-electra-kd evaluate")
    with bad_input():
        evaluation = prepare_evaluation(args, data_args)
    evaluation.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
