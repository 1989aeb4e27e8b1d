"""`kr-electra-kd tasks`: list the Korean tasks, their data sources and metrics (the registry is training/tasks/)."""

from __future__ import annotations

from dataclasses import dataclass, field

from training.errors import bad_input, one_line_errors
from training.tasks import TASKS, get_task


@dataclass
class TasksArguments:
    task: str | None = field(default=None, metadata={"help": "Show the details of one task instead of the list."})


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    from training.arguments import parse_command

    (args,) = parse_command((TasksArguments,), argv, "kr-electra-kd tasks")
    if args.task is None:
        for task in TASKS.values():
            print(f"{task.name:<14} {task.primary_metric:<12} {task.description}")
        return 0
    with bad_input(ValueError):
        task = get_task(args.task)
    print(f"{task.name}: {task.description}")
    print(f"  head: {task.head}, labels: {', '.join(task.label_names)} ({task.num_labels} outputs)")
    print(f"  metrics: {', '.join(task.metric_names)} (primary: {task.primary_metric}; percentages)")
    print(f"  Hub dataset: {task.hf_dataset or 'none (a local folder is required)'}")
    print(f"  local files: train {' or '.join(task.train_files)}, eval {' or '.join(task.eval_files)}")
    if task.holdout_train_fraction:
        print(f"  without a train file: {task.holdout_train_fraction:.0%} of the eval file trains (seeded split)")
    print(f"  format: {task.local_format}")
    return 0
