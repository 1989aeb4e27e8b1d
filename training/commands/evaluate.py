"""`kr-electra-kd evaluate`: score a fine-tuned model on its Korean task and write a results JSON.

The library it calls (loading a model with a task head, scoring, the results JSON) is training/evaluation.py.

    kr-electra-kd evaluate --model runs/nsmc --data-dir ../shared/data/nsmc
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import (
    PretrainedConfig,
    Trainer,
    TrainingArguments,
)

from training.arguments import parse_command
from training.defaults import RESULTS_FILE
from training.errors import bad_input, one_line_errors
from training.evaluation import (
    TASK_CONFIG_KEY,
    DataArguments,
    check_tokenizer,
    data_collator_for,
    load_task_model,
    resolve_max_seq_length,
    save_predictions,
    score,
    write_results,
)
from training.loading import head_of, load_config, load_tokenizer
from training.tasks import (
    TASKS,
    Task,
    get_task,
    load_task_data,
)
from training.trainer_common import device_trainer_defaults


@dataclass
class EvaluateArguments:
    model: str = field(metadata={"help": "Fine-tuned model: a folder written by `kr-electra-kd finetune`, or Hub id."})
    task: str | None = field(
        default=None,
        metadata={"help": f"Task to score ({', '.join(TASKS)}). Default: the task the model was fine-tuned on."},
    )
    output_file: str | None = field(
        default=None,
        metadata={
            "help": "Where to write the results JSON (default: MODEL/eval_results_TASK.json, or ./ for Hub ids)."
        },
    )
    batch_size: int = field(default=64, metadata={"help": "Examples per forward pass."})
    save_predictions: str | None = field(
        default=None,
        metadata={
            "help": "Also write the model's prediction for every eval example to this file, in the task's usual "
            "format: korquad {id: answer} JSON (as the official scorer reads); ner `words<TAB>tags` per sentence; "
            "other tasks a TSV with the columns text, [text_pair], label and predicted (label names; scores for "
            "korsts)."
        },
    )
    seed: int | None = field(
        default=None,
        metadata={
            "help": "Seed of the eval subset (--max-eval-samples) and of holdout splits. Default: the seed the model "
            "was fine-tuned with (its results.json), so a held-out eval split holds no training rows; 42 for other "
            "models, and required for a holdout task of a model without results.json."
        },
    )


def _task_of(args: EvaluateArguments, config: PretrainedConfig) -> Task:
    """The task to score: --task, or the one the model was fine-tuned on; a model without that head is refused."""
    trained_on = getattr(config, TASK_CONFIG_KEY, None)
    name = args.task or trained_on
    if name is None:
        raise ValueError(
            f"{args.model} does not say which task it was fine-tuned on; pass --task ({', '.join(TASKS)})."
        )
    task = get_task(name)
    if trained_on is not None and trained_on != task.name:
        raise ValueError(
            f"{args.model} was fine-tuned on {trained_on}, not {task.name}; evaluate it with --task {trained_on}."
        )
    if head_of(config) != task.head:
        raise ValueError(
            f"{args.model} has no {task.head} head (it is a {head_of(config)} model): fine-tune it first with "
            f"`kr-electra-kd finetune --model {args.model} --task {task.name}`."
        )
    return task


def _eval_seed(args: EvaluateArguments, task: Task, data_dir: str | None) -> int:
    """The seed that gives the model's own eval split. For a task trained on a held-out part of its evaluation file,
    another seed than the fine-tuning one would score rows the model trained on: refused."""
    results_file = Path(args.model) / RESULTS_FILE  # written by `kr-electra-kd finetune`
    record = json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else {}
    recorded = record.get("seed") if record.get("task") == task.name else None
    holdout = (
        data_dir is not None
        and task.holdout_train_fraction is not None
        and not any((Path(data_dir) / name).is_file() for name in task.train_files)
    )
    if not holdout:
        return args.seed if args.seed is not None else recorded if recorded is not None else 42
    if recorded is not None and args.seed is not None and args.seed != recorded:
        raise ValueError(
            f"{args.model} was fine-tuned with seed {recorded}, and {task.name} without a train file evaluates on the "
            f"rows that seed held out; --seed {args.seed} would score rows it trained on. Drop --seed."
        )
    if recorded is None and args.seed is None:
        raise ValueError(
            f"{task.name} without a train file evaluates on a held-out part of {data_dir}, chosen by the fine-tuning "
            f"seed, and {args.model} has no results.json saying which: pass the seed it was fine-tuned with (--seed)."
        )
    return recorded if recorded is not None else args.seed


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args, data_args = parse_command((EvaluateArguments, DataArguments), argv, "kr-electra-kd evaluate")
    started = time.perf_counter()
    with bad_input():
        config = load_config(args.model)  # the model resolved (folder or Hub) before any data is read
        task = _task_of(args, config)
        max_seq_length = resolve_max_seq_length(data_args.max_seq_length, task, config)
        args.seed = _eval_seed(args, task, data_args.data_dir)
        data = load_task_data(
            task,
            data_dir=data_args.data_dir,
            on_bad_rows=data_args.on_bad_rows,
            max_eval_samples=data_args.max_eval_samples,
            seed=args.seed,
            eval_only=True,
        )
        model = load_task_model(args.model, task, config)
        tokenizer = load_tokenizer(args.model)
        check_tokenizer(tokenizer, model)
    output_file = Path(args.output_file) if args.output_file else _default_output(args.model, task)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(
            model=model,
            # bf16 autocast and pinned memory where a GPU has them (device_trainer_defaults); CPU runs are unchanged
            args=TrainingArguments(
                output_dir=scratch,
                per_device_eval_batch_size=args.batch_size,
                report_to="none",
                **device_trainer_defaults(),
            ),
            data_collator=data_collator_for(task, tokenizer),
            processing_class=tokenizer,
        )
        scores = score(trainer, task, data["eval"], tokenizer, data_args, max_seq_length)
    results = write_results(
        output_file, task, scores, args.model, data, data_args.data_dir, 0, time.perf_counter() - started, args.seed
    )
    print(json.dumps(results["metrics"], indent=2))
    print(f"Wrote {output_file}")
    if args.save_predictions:
        save_predictions(Path(args.save_predictions), task, data["eval"], scores.predictions)
        print(f"Wrote the predictions to {args.save_predictions}")
    return 0


def _default_output(model: str, task: Task) -> Path:
    folder = Path(model)
    return (folder if folder.is_dir() else Path(".")) / f"eval_results_{task.name}.json"


if __name__ == "__main__":
    sys.exit(main())
