"""What the pre-training and distillation commands share: their Trainer defaults, the loss-part logging mixin and
the `--shape` override parser, and finding the checkpoint a run resumes from. Both commands import from here, not from
each other."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from transformers import PretrainedConfig, TrainerCallback, TrainerState

from training import checkpoints
from training.defaults import PRETRAINING_LEARNING_RATE, RANK_FIELDS
from training.interrupts import train_until_stopped

# Batches a DataLoader worker prepares ahead of the GPU (tokenizing, packing and masking a streamed corpus).
STREAMING_PREFETCH_BATCHES = 8


def device_trainer_defaults(streamed: bool = False, cuda: bool | None = None) -> dict:
    """Trainer options that depend on the device (`cuda`: whether a CUDA GPU is used; default: whether one is present).

    On CPU: no pinned memory (torch warns at every step group that no accelerator is found). On a GPU: pinned memory; the fused AdamW
    (one kernel for all parameters); no per-step NaN check of the loss (`logging_nan_inf_filter` reads the loss back
    from the GPU at every step); bf16 autocast and TF32 matmuls on Ampere and newer. For a `streamed` corpus, one
    DataLoader worker reads, tokenizes, packs and masks `STREAMING_PREFETCH_BATCHES` batches ahead, so the GPU never
    waits for the tokenizer. One worker, not more: it reads every shard, so a resumed run (Trainer skips the batches
    its checkpoint trained on by reading the stream again) sees the same stream; datasets splits shards between
    workers, and a corpus of one file is one shard. (A worker gets its own shuffle-buffer seed: resume a run with the
    worker count it started with, which these defaults do on the same kind of machine.)"""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if not cuda:
        return {"dataloader_pin_memory": False}
    options: dict = {"dataloader_pin_memory": True, "optim": "adamw_torch_fused", "logging_nan_inf_filter": False}
    if torch.cuda.get_device_capability()[0] >= 8:  # Ampere and newer: bf16 autocast and TF32 matmuls
        options.update(bf16=True, tf32=True)
    if streamed:
        options.update(dataloader_num_workers=1, dataloader_prefetch_factor=STREAMING_PREFETCH_BATCHES)
    return options


# Trainer options of the pre-training and distillation commands (all still overridable on the command line).
PRETRAINING_DEFAULTS = {
    "learning_rate": PRETRAINING_LEARNING_RATE,
    "warmup_steps": 0.1,
    "per_device_train_batch_size": 32,
    "save_steps": 500,
    "save_total_limit": 2,
    "logging_steps": 50,
    "report_to": "none",
    "max_steps": 1000,
    # Without a GPU, Trainer joins a torchrun / accelerate process group only with use_cpu.
    "use_cpu": not torch.cuda.is_available(),
    "ddp_find_unused_parameters": False,
    # Each process reads its own part of the streamed corpus (by default accelerate has process 0 read, tokenize and
    # pack every batch and send the others theirs).
    "accelerator_config": {"dispatch_batches": False},
    **device_trainer_defaults(streamed=True),
}


def parse_shape(shape: str | None) -> dict:
    """'a=1,b=0.5,c=None,d=pre' -> {'a': 1, 'b': 0.5, 'c': None, 'd': 'pre'} (int, float, None, else the string, e.g.
    `layer_norm_position=pre`; the config checks each value)."""
    values: dict = {}
    for item in filter(None, (shape or "").split(",")):
        if "=" not in item:
            raise ValueError(f"Shape override {item!r} is not key=value (e.g. hidden_size=128).")
        key, raw = (part.strip() for part in item.split("=", 1))
        values[key] = None if raw == "None" else shape_value(raw)
    return values


def shape_value(raw: str) -> int | float | str:
    """One `--shape` value: an int, else a float, else the string itself."""
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


class LossPartsMixin:
    """For a `Trainer` whose loss has parts: `record_loss_parts` each training step, and every log line gets each
    part's mean since the previous log (`loss_<part>`) beside Trainer's total `loss`."""

    def record_loss_parts(self, parts: dict[str, torch.Tensor]) -> None:
        # Summed on the device: read back only when a line is logged, not at every step (a sync stalls a GPU).
        sums = self.__dict__.setdefault("_loss_part_sums", {})
        for name, value in parts.items():
            sums[name] = sums.get(name, 0.0) + value.detach().float()
        self._loss_part_steps = getattr(self, "_loss_part_steps", 0) + 1

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        steps = getattr(self, "_loss_part_steps", 0)
        if steps and "loss" in logs:
            for name, total in self._loss_part_sums.items():
                logs[f"loss_{name}"] = round(float(total) / steps, 6)
            self._loss_part_sums, self._loss_part_steps = {}, 0
        super().log(logs, *args, **kwargs)


TIMING_FILE = "train_timing.json"
WARMUP_STEPS = 5  # steps left out of the measured rate (allocator, kernel selection, first batches)


def max_train_seconds_field() -> Any:
    """The `--max_train_seconds` field of the pre-training and distillation commands."""
    return dataclasses.field(
        default=None,
        metadata={
            "help": "Stop after this many seconds of training (saving a checkpoint and the model) even before "
            "max_steps; for time-boxed runs such as benchmarks/gpu_check.py."
        },
    )


class TrainTimer(TrainerCallback):
    """Measures a run's steps per second after its first WARMUP_STEPS steps and writes them to TIMING_FILE in the
    Trainer's output folder when training ends; with `max_seconds`, stops training (with a checkpoint) once that much
    time has passed since training started."""

    def __init__(self, max_seconds: float | None = None):
        self.max_seconds = max_seconds
        self.started = self.warm = None
        self.warm_step = 0

    @staticmethod
    def _now() -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the host runs ahead of the GPU: time what the GPU finished
        return time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.warm, self.warm_step = time.perf_counter(), None, state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        if self.warm is None and state.global_step - self.warm_step >= WARMUP_STEPS:
            self.warm, self.warm_step = self._now(), state.global_step
        if self.max_seconds is not None and time.perf_counter() - self.started >= self.max_seconds:
            control.should_training_stop = control.should_save = True

    def on_train_end(self, args, state, control, **kwargs):
        now = self._now()
        timed = state.global_step - self.warm_step if self.warm is not None else 0
        record = {
            "steps": state.global_step,
            "seconds": round(now - self.started, 3),
            "timed_steps": timed,
            "steps_per_second": round(timed / (now - self.warm), 4) if timed else None,
        }
        if state.is_world_process_zero:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            (Path(args.output_dir) / TIMING_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")


# The log-history key of a run's cumulative training seconds (TrainingClock), read back by `training_seconds`.
TRAIN_SECONDS = "train_seconds"


class TrainingClock(TrainerCallback):
    """Adds the run's cumulative training seconds (`TRAIN_SECONDS`) to the log history at every step that logs or
    saves, so each checkpoint's trainer_state.json says how long training took to reach it. A resumed run continues
    from the seconds its checkpoint recorded (the time a stopped run spent after its last checkpoint is not counted);
    the clock runs from each run's first step, so start-up and a resumed run's fast-forward past trained batches
    are left out."""

    def __init__(self) -> None:
        self.base = 0.0
        self.started: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.base, self.started = training_seconds(state.log_history) or 0.0, None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.started is None:
            self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_log or control.should_save:
            seconds = self.base + time.perf_counter() - (self.started or time.perf_counter())
            state.log_history.append({"step": state.global_step, TRAIN_SECONDS: round(seconds, 3)})


def training_seconds(log_history: list[dict]) -> float | None:
    """The last cumulative training seconds a `TrainingClock` logged in `log_history`, None if none."""
    return next((entry[TRAIN_SECONDS] for entry in reversed(log_history) if TRAIN_SECONDS in entry), None)


def train_or_restore(trainer, checkpoint: str | None) -> int | None:
    """`training.interrupts.train_until_stopped(trainer, checkpoint)` (None, or the exit status of a stop signal),
    except when `checkpoint` holds every step the run asks for
    (a run killed after training, while saving its final model): then its weights and state are loaded and no step is
    taken, where Trainer would train one step past --max_steps before looking at it."""
    if checkpoint is not None and trainer.args.max_steps > 0:
        state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
        if state.global_step >= trainer.args.max_steps:
            trainer._load_from_checkpoint(checkpoint)
            trainer.state = state
            print(f"{checkpoint} holds all {state.global_step} steps: saving the model without further training.")
            return None
    return train_until_stopped(trainer, checkpoint)


# The config fields that decide the model's weight shapes: a checkpoint with other values cannot be resumed.
SHAPE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "embedding_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    *RANK_FIELDS,
)


def resume_checkpoint(
    checkpoints_dir: str | Path, config: PretrainedConfig | None = None, restart_if_damaged: bool = False
) -> str | None:
    """The newest complete and intact `checkpoint-<step>` folder in `checkpoints_dir` (training/checkpoints.py), or
    None. Newer checkpoints that are incomplete (a run killed while saving) or damaged (a file that cannot be read)
    are skipped, and the one line naming the checkpoint the run resumes from names them and the damaged file. With
    only damaged checkpoints, a ValueError refuses to start over unless `restart_if_damaged` (the command's
    --overwrite_output_dir), which removes them. With `config`, a checkpoint of another model shape is refused with a
    ValueError naming both shapes."""
    folder = Path(checkpoints_dir)
    found = checkpoints.scan(folder)
    if found.checkpoint is None:
        if found.damaged and not restart_if_damaged:
            raise ValueError(checkpoints.no_intact_checkpoint(folder, found))
        if found.damaged:
            for name, _ in found.damaged:
                shutil.rmtree(folder / name)
            print(f"No intact checkpoint in {folder}: removed the damaged ones, starting from step 0.")
        elif found.incomplete:
            print(
                f"No complete checkpoint in {folder} (incomplete: {', '.join(found.incomplete)}): starting from step 0."
            )
        return None
    if config is not None:
        check_checkpoint_shape(found.checkpoint, config)
    print(f"Resuming from {found.checkpoint}{checkpoints.skipped_note(found)}.")
    return str(found.checkpoint)


def check_checkpoint_shape(checkpoint: Path, config: PretrainedConfig) -> None:
    """Refuse a checkpoint whose config.json describes another model shape than `config`."""
    config_file = checkpoint / "config.json"
    if not config_file.is_file():
        return  # older checkpoints: the strict weight loading still refuses a mismatch
    saved = json.loads(config_file.read_text(encoding="utf-8"))
    wanted = config.to_dict()
    differing = [name for name in SHAPE_FIELDS if name in saved and saved[name] != wanted.get(name)]
    if differing:
        before = ",".join(f"{name}={saved[name]}" for name in differing)
        now = ",".join(f"{name}={wanted.get(name)}" for name in differing)
        raise ValueError(
            f"Checkpoint {checkpoint} holds a model of shape {before}, but this run builds {now}: give the same "
            "--preset/--shape as that run, or another --output_dir."
        )


def save_steps_sets_strategy(parser, argv: list[str] | None) -> list[str]:
    """For a command whose default `save_strategy` is not `steps` (finetune: `epoch`): `argv` with
    `--save_strategy steps` added when it gives `--save_steps` but no `--save_strategy`, which Trainer would otherwise
    ignore silently; `parser`'s help for --save_steps says so."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    for action in parser._actions:
        if action.dest == "save_steps":
            action.help = f"{action.help} Giving it sets --save_strategy steps unless --save_strategy is given."
    flags = {item.split("=", 1)[0].replace("-", "_") for item in argv if item.startswith("--")}
    if "__save_steps" in flags and "__save_strategy" not in flags:
        argv += ["--save_strategy", "steps"]
    return argv
