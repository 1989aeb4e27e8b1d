"""Stopping is saving: what a training command does on SIGTERM (a scheduler or a pre-empted machine) and SIGINT
(Ctrl-C).

The first signal sets a flag; at the end of the current step `StopOnSignal` asks Trainer for a checkpoint and the end
of training, and `train_until_stopped` prints one line (the step, the checkpoint, "run the same command again to
resume") and returns the exit status a shell reports for the signal: 143 for SIGTERM, 130 for SIGINT. A second signal
while the step finishes or the checkpoint is written stops at once: the checkpoint being written is left incomplete,
and the re-run resumes from the one before (training/checkpoints.py tells them apart). Every training command calls
`train_until_stopped` instead of `trainer.train`. A stop outside it (SIGTERM or Ctrl-C while a command loads its data)
is training/stop_signals.py's: the signals, their exit statuses and the one line, which imports no torch.
"""

from __future__ import annotations

import signal
import sys
import threading

import torch
from transformers import Trainer, TrainerCallback

from training import checkpoints
from training.stop_signals import STOP_SIGNALS, StoppedAtOnce, signal_of, stopped_line


class StopOnSignal(TrainerCallback):
    """On the first SIGTERM or SIGINT, Trainer ends training after the current step with a checkpoint (`should_save`
    and `should_training_stop` at `on_step_end`); the second raises StoppedAtOnce. Under torchrun, the ranks agree at
    each step end (one all-reduce of a flag), so all of them stop at the same step and save one checkpoint together."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # Python delivers signals to the main thread only
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise StoppedAtOnce(signum)
        self.signum = signum

    def on_step_end(self, args, state, control, **kwargs):
        stop = self.signum is not None
        if args.world_size > 1 and torch.distributed.is_initialized():
            flag = torch.tensor([self.signum or 0], device=args.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            self.signum = int(flag.item()) or None
            stop = self.signum is not None
        if stop:
            control.should_save = control.should_training_stop = True
        return control


def train_until_stopped(trainer: Trainer, resume_from_checkpoint: str | None = None) -> int | None:
    """`trainer.train(resume_from_checkpoint)`; None when it ran to its end, or, when a signal stopped it, the exit
    status for the signal after one line naming the step and the checkpoint to resume from (on stderr)."""
    stop = StopOnSignal()
    trainer.add_callback(stop)
    stop.install()
    try:
        trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    except KeyboardInterrupt as interrupt:  # a second signal, or a KeyboardInterrupt raised by other code
        if trainer.is_world_process_zero():
            print(stopped_line(trainer), file=sys.stderr)
        return STOP_SIGNALS[signal_of(interrupt)]
    finally:
        stop.uninstall()
        trainer.remove_callback(stop)
    if stop.signum is None:
        return None
    if trainer.is_world_process_zero():
        print(saved_line(trainer, stop.signum), file=sys.stderr)
    return STOP_SIGNALS[stop.signum]


def saved_line(trainer: Trainer, signum: int) -> str:
    """The line for a run stopped by `signum` after saving the checkpoint of its last step."""
    checkpoint = checkpoints.newest_intact_checkpoint(trainer.args.output_dir)
    step = trainer.state.global_step
    if checkpoint is None or checkpoints.step_of(checkpoint) != step:  # the signal came after the last step
        return stopped_line(trainer)
    return (
        f"stopped by {signal.Signals(signum).name} at step {step}; saved checkpoint {checkpoint}; run the same "
        "command again to resume."
    )
