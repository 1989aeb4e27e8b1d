"""The signals that stop a command and what a stop outside training does; nothing here imports torch.

SIGTERM (a scheduler, a pre-empted machine) and SIGINT (Ctrl-C) stop a command with the exit status a shell reports
for the signal (`STOP_SIGNALS`: 143, 130). While a command trains, training/interrupts.py turns the first one into a
checkpoint. Anywhere else (a command still loading, scoring, or writing its final output), `stopping_at_once`, which
training/cli.py sets up before it imports the command, makes SIGTERM what Ctrl-C already is: an interrupt
(`StoppedAtOnce`, a KeyboardInterrupt) raised where the command is, so the output it staged is dropped and its lock
released (training/outputs.py), and the command line prints one line (`interrupted_message`) and returns
`exit_status`, never a silent -15.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from training import checkpoints

if TYPE_CHECKING:
    from transformers import Trainer

# The signals that stop a run, and the exit status of each (128 + the signal, as shells report).
STOP_SIGNALS = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGINT: 128 + signal.SIGINT}


class StoppedAtOnce(KeyboardInterrupt):
    """A stop signal that ends the command where it is, saving nothing more: SIGTERM outside training, or a second
    signal while a stopped training run saves its checkpoint."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(interrupt: KeyboardInterrupt) -> int:
    """The signal behind `interrupt`: its own for StoppedAtOnce, else SIGINT (Python's Ctrl-C)."""
    return interrupt.signum if isinstance(interrupt, StoppedAtOnce) else signal.SIGINT


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status of a command that `interrupt` ended: 143 for SIGTERM, 130 for SIGINT."""
    return STOP_SIGNALS[signal_of(interrupt)]


def _stop_at_once(signum: int, frame) -> None:
    raise StoppedAtOnce(signum)


@contextlib.contextmanager
def stopping_at_once() -> Iterator[None]:
    """Inside, SIGTERM raises StoppedAtOnce(SIGTERM) wherever the command is. A SIGTERM that was ignored or handled
    already when the block began (or a block off the main thread, where Python cannot set handlers) is left as it
    was; the handler found is put back at the end."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _stop_at_once)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stopped_line(trainer: Trainer | None, signum: int = signal.SIGINT) -> str:
    """The line for a run stopped at once by `signum` (nothing more saved): its step and the checkpoint a re-run
    resumes from, or, without a trainer, that nothing was saved."""
    if trainer is None:
        return f"stopped by {signal.Signals(signum).name} before training started; nothing was saved."
    checkpoint = checkpoints.newest_intact_checkpoint(trainer.args.output_dir)
    where = (
        f"last checkpoint: {checkpoint} (run the same command again to resume from it)"
        if checkpoint
        else "no checkpoint yet (running the same command again starts from step 0)"
    )
    return f"stopped at step {trainer.state.global_step}; {where}."


def interrupted_message(interrupt: KeyboardInterrupt) -> str:
    """One line for a KeyboardInterrupt that reached the command line: `stopped_line` of the `Trainer` whose `train()`
    the interrupt passed through (found on the traceback), or that nothing was saved."""
    trainer = None
    traceback = interrupt.__traceback__
    while traceback is not None:
        candidate = traceback.tb_frame.f_locals.get("self")
        if trainer is None and hasattr(candidate, "state") and hasattr(candidate, "args"):
            trainer = candidate if hasattr(candidate.state, "global_step") else None
        traceback = traceback.tb_next
    return stopped_line(trainer, signal_of(interrupt))
