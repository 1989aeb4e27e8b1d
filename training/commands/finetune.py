"""`kr-electra-kd finetune`: fine-tune a model on one Korean task with `Trainer` and write a results JSON.

    kr-electra-kd finetune --model runs/student --task nsmc --data-dir nsmc/ --max-train-samples 3000

Writes OUTPUT_DIR/ with the fine-tuned model (safetensors, config with the label names, tokenizer; loads with
`pipeline()`) and OUTPUT_DIR/results.json. Checkpoints are kept while training, so an interrupted run resumes
when started again with the same --output-dir; they are removed once the run has finished.

The run lives in training/finetuning.py (`run_finetuning` runs one from keyword arguments); this module parses the
command line and reports errors.
"""

from __future__ import annotations

import sys

from transformers import TrainingArguments

from training.arguments import command_parser
from training.errors import bad_input, one_line_errors
from training.evaluation import DataArguments
from training.finetuning import TRAINING_DEFAULTS, FinetuneArguments, default_output_dir, prepare_finetuning
from training.outputs import guards_outputs
from training.trainer_common import save_steps_sets_strategy

__all__ = ["FinetuneArguments", "main"]


def parse_arguments(argv: list[str] | None) -> tuple[FinetuneArguments, DataArguments, TrainingArguments]:
    parser = command_parser((FinetuneArguments, DataArguments, TrainingArguments), "kr-electra-kd finetune")
    parser.set_defaults(**TRAINING_DEFAULTS)
    # The default output folder depends on the model and task.
    return parser.parse(
        save_steps_sets_strategy(parser, argv),
        late_defaults=lambda known: {"output_dir": default_output_dir(known.model, known.task)},
    )


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    args, data_args, training_args = parse_arguments(argv)
    # Everything that can be wrong with the input is checked here, before any training step.
    with bad_input():
        run = prepare_finetuning(args, data_args, training_args)
    if (stopped := run.train()) is not None:
        return stopped
    run.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
