"""Checkpoints checked before they are trusted: which `checkpoint-<step>` folder a run resumes from.

A checkpoint is *incomplete* when a file that Trainer writes last is missing (a run killed while saving: Trainer
writes trainer_state.json after the weights, optimizer and RNG states), and *damaged* when its files are all there but
one cannot be read: a safetensors file whose header does not cover the file, an optimizer, scheduler or RNG archive
that is not a whole zip archive (torch.save's format), a trainer_state.json that is not JSON. The checks read headers
and zip directories only, not the tensors, so they take milliseconds even for large checkpoints.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Files every complete checkpoint holds (Trainer writes trainer_state.json last).
CHECKPOINT_FILES = ("trainer_state.json", "model.safetensors")
# torch.save archives a checkpoint may hold: optimizer, scheduler, gradient scaler, RNG states (one per process).
ARCHIVE_PATTERNS = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth")


@dataclass
class Scan:
    """The checkpoints of a folder, newest first: the newest intact one (or None), and each newer one skipped with
    why (`incomplete`: a missing file; `damaged`: `file: reason`)."""

    checkpoint: Path | None
    incomplete: list[str]
    damaged: list[tuple[str, str]]  # (checkpoint name, 'file: reason')


def step_of(path: Path) -> int | None:
    step = path.name.removeprefix("checkpoint-")
    return int(step) if path.name.startswith("checkpoint-") and step.isdigit() else None


def checkpoints_newest_first(folder: str | Path) -> list[Path]:
    found = [path for path in Path(folder).glob("checkpoint-*") if path.is_dir() and step_of(path) is not None]
    return sorted(found, key=step_of, reverse=True)


def missing_file(checkpoint: Path) -> str | None:
    """The first of CHECKPOINT_FILES that `checkpoint` lacks, or None."""
    return next((name for name in CHECKPOINT_FILES if not (checkpoint / name).is_file()), None)


def damaged_file(checkpoint: Path) -> str | None:
    """'<file>: <what is wrong>' for the first file of `checkpoint` that cannot be read, or None when all can."""
    from safetensors import safe_open

    for path in sorted(checkpoint.glob("*.safetensors")):
        try:
            with safe_open(str(path), "pt"):
                pass
        except Exception as error:  # SafetensorError, OSError: any failure to read the header
            return f"{path.name}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
    for pattern in ARCHIVE_PATTERNS:
        for path in sorted(checkpoint.glob(pattern)):
            problem = _archive_problem(path)
            if problem:
                return f"{path.name}: {problem}"
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        return f"trainer_state.json: not valid JSON ({error})"
    return None


def _archive_problem(path: Path) -> str | None:
    """Why `path` is not a whole torch.save archive (a zip file whose entries all lie inside it), or None."""
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                if entry.header_offset + entry.compress_size > size:
                    return f"entry {entry.filename} runs past the end of the file"
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        return f"not a complete torch.save archive ({error})"
    return None


def scan(folder: str | Path) -> Scan:
    """The newest intact checkpoint in `folder` and the newer ones skipped."""
    incomplete: list[str] = []
    damaged: list[tuple[str, str]] = []
    for checkpoint in checkpoints_newest_first(folder):
        missing = missing_file(checkpoint)
        if missing:
            incomplete.append(checkpoint.name)
            continue
        problem = damaged_file(checkpoint)
        if problem:
            damaged.append((checkpoint.name, problem))
            continue
        return Scan(checkpoint, incomplete, damaged)
    return Scan(None, incomplete, damaged)


def newest_intact_checkpoint(folder: str | Path) -> Path | None:
    """The newest checkpoint in `folder` that is complete and whose files can all be read, or None."""
    return scan(folder).checkpoint


def skipped_note(found: Scan) -> str:
    """', skipping the incomplete checkpoint-9 and the damaged checkpoint-8 (optimizer.pt: ...)', or ''."""
    parts = []
    if found.incomplete:
        parts.append(f"the incomplete {', '.join(found.incomplete)}")
    if found.damaged:
        parts.append(f"the damaged {damaged_list(found)}")
    return f", skipping {' and '.join(parts)}" if parts else ""


def damaged_list(found: Scan) -> str:
    return ", ".join(f"{name} ({problem})" for name, problem in found.damaged)


def no_intact_checkpoint(folder: Path, found: Scan) -> str:
    """The one line for a folder without an intact checkpoint but with a damaged one: refused, not retrained."""
    return (
        f"no intact checkpoint in {folder}: the damaged {damaged_list(found)} cannot be resumed. Give "
        "--overwrite_output_dir to start over from step 0 (it deletes the checkpoints), or move them away."
    )
