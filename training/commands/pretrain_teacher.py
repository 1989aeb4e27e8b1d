"""`kr-electra-kd pretrain-teacher`: ELECTRA pre-training of a teacher from plain Korean text, on `Trainer`.

The objective (generator + discriminator, masking, token corruption) is training/electra_objective.py; the trainer,
the teacher folder and the run itself (`run_pretraining` runs one from keyword arguments) are training/pretraining.py;
this module parses the command line and reports errors.

    kr-electra-kd pretrain-teacher --corpus corpus.txt --tokenizer tok --output_dir teacher --preset small-kd \\
        --max_steps 10000
    kr-electra-kd pretrain-teacher --dataset_name wikimedia/wikipedia --dataset_config_name 20231101.ko \\
        --text_column_name text --tokenizer tok --output_dir teacher --preset small-kd --max_steps 10000

The output folder holds the discriminator (the teacher: config, safetensors, code files, tokenizer) and, in
`generator/`, the generator. Checkpoints go to `output_dir/checkpoints`; a run restarted with the same output_dir
resumes from the newest complete one, which must have the same shape.
"""

from __future__ import annotations

import sys

from transformers import TrainingArguments

from training.arguments import parse_command
from training.corpus import CorpusError, DatasetArguments
from training.errors import bad_input, one_line_errors
from training.outputs import guards_outputs
from training.pretraining import PretrainArguments, prepare_pretraining
from training.trainer_common import PRETRAINING_DEFAULTS

__all__ = ["PretrainArguments", "main"]


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    args, dataset, training_args = parse_command(
        (PretrainArguments, DatasetArguments, TrainingArguments),
        argv,
        "kr-electra-kd pretrain-teacher",
        PRETRAINING_DEFAULTS,
    )
    with bad_input():
        run = prepare_pretraining(args, training_args, dataset)
    with bad_input(CorpusError):  # a bad line deep in the streamed corpus is met only when training reaches it
        if (stopped := run.train()) is not None:
            return stopped
    run.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
