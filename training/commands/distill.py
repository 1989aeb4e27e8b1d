"""`kr-electra-kd distill`: distil a teacher into a (low-rank) student, task-agnostic or for one task.

Task-agnostic (the paper's general distillation): the teacher's replaced-token-detection head, hidden states and
attention maps on unlabeled text teach a student of the same head.

    kr-electra-kd distill --teacher teacher --student_preset small-lf-v3 --corpus corpus.txt --output_dir student

(or a `datasets` dataset instead of --corpus: `--dataset_name wikimedia/wikipedia --dataset_config_name 20231101.ko`).

With `--corrupt_inputs` both read ELECTRA-corrupted text (the teacher's generator resamples 15% of the tokens), the
only text on which the teacher's replaced-token head has something to say.

Task-specific: a teacher fine-tuned on `--task` teaches a student with that task's head, on the task's training
data plus, optionally, an unlabeled transfer set of the same kind of text that the teacher labels (small students
need it most on span and token tasks).

    kr-electra-kd distill --teacher teacher-nsmc --student_init student --task nsmc --data_dir nsmc/

Student initialisation (`--student_init`): `random`; `teacher-layers` (the teacher's embeddings and the mapped layers,
for a student of the teacher's width); or a folder/Hub id of a trained student, converted by SVD to the ranks of
`--student_preset` when they differ (distil dense, factorize, distil again). The output folder is Hub-ready (code
files, tokenizer, config) with `distillation.json` describing how it was made; checkpoints in
`output_dir/checkpoints` (the student and its projections) are resumed when the command is run again.

The rules live in training/distillation/run.py (`run_distillation` runs one from keyword arguments); this module
parses the command line and reports errors.
"""

from __future__ import annotations

import sys

from transformers import TrainingArguments

from training.arguments import parse_command
from training.corpus import CorpusError, DatasetArguments
from training.distillation import DistillationConfig
from training.distillation.run import DISTILL_DEFAULTS, DistillArguments, prepare_distillation
from training.errors import bad_input, one_line_errors
from training.outputs import guards_outputs

__all__ = ["DistillArguments", "main"]


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    args, distillation, dataset, training_args = parse_command(
        (DistillArguments, DistillationConfig, DatasetArguments, TrainingArguments),
        argv,
        "kr-electra-kd distill",
        DISTILL_DEFAULTS,
    )
    with bad_input():
        run = prepare_distillation(args, distillation, training_args, dataset)
    with bad_input(CorpusError):  # a bad line deep in the streamed corpus is met only when training reaches it
        if (stopped := run.train()) is not None:
            return stopped
    run.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
