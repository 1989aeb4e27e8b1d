"""What keeps a command's output folder whole when a run is killed, runs out of disk, or meets a second run.

- **One run per folder.** Inside a run (`output_run`: a command's `main` decorated with `guards_outputs`, or a library
  run such as `run_finetuning`), `check_output_dir` takes the
  output folder's lock (`LOCK_FILE`, an `fcntl.flock` on a file naming the holder's PID and host) through
  `claim_output_folder`. A second run into that folder is refused in one line naming the holder; the lock of a run
  that was killed is released by the kernel with the process, and the next run says it took it over. The lock is
  released, and its file removed, when the command returns. Under torchrun / accelerate only the main process (RANK 0)
  takes it. A command whose output is one file (`evaluate --output_file`) locks just that file
  (`claim_output_file`).
- **Atomic outputs.** `atomic_output(target)` gives a staging folder beside `target` (`.NAME.partial-PID`, on the same
  filesystem) for a command's final output; only once everything is written are the files moved into `target`, the
  files that make a folder look finished (`FINISHED_MODEL_FILES`) last. Checkpoint folders already
  in `target` stay. A run killed while writing leaves the staging folder, never a finished-looking target; a run
  killed while moving leaves a list of what it moved. The next run into the folder removes the staging folder and
  undoes a half-done move (so it resumes from its checkpoint instead of refusing a folder that looks finished), and
  removes the `.tmpXXXXXX` files safetensors writes before renaming (left behind by a kill). A single file (a card's
  README.md, a results JSON) is written the same way by `atomic_file`: staged beside its final name, then renamed.
- **A full disk** (or a file-size limit) anywhere in a guarded command is one line naming the folder, the bytes needed
  where known and the bytes free, exit code 2 (`DISK_FULL_EXIT_CODE`), instead of a traceback.

Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from training.defaults import RESULTS_FILE
from training.errors import CommandError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not serialised there
    fcntl = None

# A folder holding any of these holds a finished model (or its scores): `training.arguments.check_output_dir` does not
# replace it without --overwrite_output_dir, and `atomic_output` moves them in last.
FINISHED_MODEL_FILES = ("config.json", "model.safetensors", RESULTS_FILE, "onnx/model.onnx")
# What makes a folder look finished, the most telling first: `atomic_output` moves these in last, in reverse order (a
# tokenizer folder's tokenizer_config.json after its tokenizer.json, a model's config.json after everything).
MOVED_LAST = (*FINISHED_MODEL_FILES, "tokenizer_config.json")
LOCK_FILE = ".kr-electra-kd.lock"
PARTIAL_MARK = ".partial-"
# Written into a staging folder just before its files move into the target: the list of what is being moved.
MOVING_FILE = ".moving.json"
# safetensors (0.8) writes `.tmp` + 6 letters and digits beside the file, then renames it.
SAFETENSORS_TEMP = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
# Messages of writers that do not raise an OSError: safetensors (Rust I/O errors), torch.save (PyTorchStreamWriter).
DISK_FULL_MESSAGES = ("no space left on device", "file too large", "disk quota exceeded", "os error 28", "os error 27")
TORCH_WRITE_FAILURE = re.compile(r"inline_container\.cc.*(file write failed|unexpected pos)", re.IGNORECASE)
DISK_FULL_EXIT_CODE = 2


def is_main_process() -> bool:
    """Whether this is the process that writes outputs: the only one, or rank 0 under torchrun / accelerate (both set
    RANK before the command starts, which is before Trainer builds its process group)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


class DiskFullError(OSError):
    """A write that failed for lack of space (or a file-size limit), with the folder and what is known of the bytes."""

    def __init__(self, folder: Path, reason: str, needed: int | None = None):
        super().__init__(errno.ENOSPC, reason)
        self.folder, self.reason, self.needed = Path(folder), reason, needed

    def __str__(self) -> str:
        needed = f"about {_size(self.needed)} needed, " if self.needed else ""
        if self.reason == os.strerror(errno.EFBIG):
            return (
                f"not enough space to write {self.folder} (File too large: a file-size limit, ulimit -f, was reached"
                f"{'; ' + needed.rstrip(', ') if needed else ''}). Raise the limit and run the same command again."
            )
        return (
            f"not enough space to write {self.folder} ({self.reason}): {needed}{_size(free_bytes(self.folder))} free "
            "there. Free some space and run the same command again."
        )


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count} bytes"


def free_bytes(folder: Path) -> int:
    """Free bytes on the filesystem of `folder` (of its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def disk_full_reason(error: BaseException) -> str | None:
    """Why `error` (or an error it was raised from) is a full disk or a file-size limit, in a few words; else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DiskFullError):
            return error.reason
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return os.strerror(error.errno)
        text = str(error).lower()
        for message in DISK_FULL_MESSAGES:
            if message in text:
                reason = errno.EFBIG if message in ("file too large", "os error 27") else errno.ENOSPC
                return os.strerror(reason)
        if TORCH_WRITE_FAILURE.search(str(error)):
            return "a write failed: the disk is full or a file-size limit was reached"
        error = error.__cause__ or error.__context__
    return None


def bytes_of(model) -> int:
    """The bytes of a model's tensors as safetensors stores them (tied tensors once): what saving it needs."""
    tensors = {tensor.data_ptr(): tensor for tensor in model.state_dict().values()}
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())


# ---------------------------------------------------------------- one run per folder


@dataclass
class _Run:
    """One guarded command run: the locks it holds (lock file -> (file descriptor, the folder it created for it))."""

    locks: dict[Path, tuple[int, Path | None]] = field(default_factory=dict)
    folder: Path | None = None  # the first output it claimed: named by a disk-full message

    def release(self) -> None:
        for lock_file, (descriptor, created) in self.locks.items():
            with contextlib.suppress(OSError):
                if os.fstat(descriptor).st_ino == lock_file.stat().st_ino:
                    lock_file.unlink()
            os.close(descriptor)  # releases the flock
            if created is not None:
                with contextlib.suppress(OSError):
                    created.rmdir()  # only when empty: a run refused before writing leaves nothing behind
        self.locks.clear()


_RUNS: list[_Run] = []


@contextlib.contextmanager
def output_run() -> Iterator[_Run]:
    """One run's output folders: those its `check_output_dir` claims inside are locked and released at the end (a
    library call such as `run_finetuning` runs in one, as every command does), and a full disk anywhere inside is a
    `DiskFullError` naming the folder."""
    run = _Run()
    _RUNS.append(run)
    try:
        yield run
    except Exception as error:
        reason = disk_full_reason(error)
        if reason is None or isinstance(error, DiskFullError):
            raise
        raise DiskFullError(_written_folder(error, run.folder), reason) from error
    finally:
        _RUNS.remove(run)
        run.release()


def guards_outputs(main: Callable[..., int | None]) -> Callable[..., int]:
    """Decorate a command's `main(argv)` (inside `training.errors.one_line_errors`): it runs in an `output_run`, and a
    full disk is a `CommandError` (one line on stderr, exit code DISK_FULL_EXIT_CODE)."""

    @functools.wraps(main)
    def guarded(argv: list[str] | None = None) -> int:
        try:
            with output_run():
                return main(argv)
        except DiskFullError as error:
            raise CommandError(str(error), DISK_FULL_EXIT_CODE) from error

    return guarded


def _written_folder(error: BaseException, fallback: Path | None) -> Path:
    filename = getattr(error, "filename", None)
    if filename:
        return Path(filename).parent
    return fallback if fallback is not None else Path.cwd()


def claim_output_folder(folder: str | Path, flag: str = "--output_dir") -> None:
    """Lock `folder` for the current guarded command run (creating it), then clear what killed runs left in it.

    Raises ValueError naming the holder (and `flag`, the option that chose the folder) when a live run holds the
    folder. Outside an `output_run` (a test of the output check) and in processes other than the main one, does
    nothing.
    """
    folder = Path(folder).absolute()
    if _claim(folder / LOCK_FILE, folder, flag):
        clear_leftovers(folder)


def claim_output_file(path: str | Path, flag: str) -> None:
    """Lock the single file `path` (e.g. `evaluate --output_file`) for the current guarded command run, by a lock file
    beside it (`.NAME` + LOCK_FILE; other files of its folder stay free), and remove the staged copies of it that
    killed runs left (`atomic_file`). As `claim_output_folder` otherwise."""
    path = Path(path).absolute()
    if _claim(path.parent / f".{path.name}{LOCK_FILE}", path, flag):
        for partial in path.parent.glob(f".{glob_escape(path.name)}{PARTIAL_MARK}*"):
            if partial.is_file() and _left_by_a_dead_run(partial):
                partial.unlink()


def _claim(lock_file: Path, output: Path, flag: str) -> bool:
    """Take `lock_file` for the current run; False where there is nothing to take (see `claim_output_folder`)."""
    if not _RUNS or not is_main_process() or fcntl is None:
        return False
    if any(lock_file in other.locks for other in _RUNS):
        return False  # this process holds it already (a command run from inside another one)
    run, folder = _RUNS[-1], lock_file.parent
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    run.locks[lock_file] = (_lock(lock_file, output, flag), folder if created else None)
    run.folder = run.folder or output
    return True


def _lock(path: Path, output: Path, flag: str) -> int:
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise ValueError(
                f"{output} is in use by another kr-electra-kd run ({_describe(holder)}); wait for it to finish, or "
                f"choose another {flag}."
            ) from None
        # The file may have been removed (and another made) by the run that held it between our open and flock.
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(descriptor).st_ino == path.stat().st_ino:
                break
        os.close(descriptor)
    previous = _read_holder(descriptor)
    if previous.get("pid") and previous.get("pid") != os.getpid():
        print(f"Took over the lock of {output} from a run that no longer holds it ({_describe(previous)}).")
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, (json.dumps(record) + "\n").encode(), 0)
    return descriptor


def _read_holder(descriptor: int) -> dict:
    try:
        return json.loads(os.pread(descriptor, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "its PID is not recorded yet"
    return f"PID {holder['pid']} on {holder.get('host', 'an unknown host')}, since {holder.get('started', '?')}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):  # a zombie (killed, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _left_by_a_dead_run(staged: Path) -> bool:
    """Whether `staged` (a `...partial-PID` name) belongs to a run that is no longer running (or to this process)."""
    pid = staged.name.rsplit(PARTIAL_MARK, 1)[1]
    return pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid)))


def clear_leftovers(folder: str | Path) -> list[str]:
    """Remove what killed runs left in and beside `folder`: their staging folders (undoing a half-done move into
    `folder`), their staged files in it (`atomic_file`) and safetensors' `.tmpXXXXXX` files. Call only while holding
    the folder's lock. Prints one line, returns the names removed."""
    folder = Path(folder).absolute()
    removed = []
    for staging in sorted(folder.parent.glob(f".{glob_escape(folder.name)}{PARTIAL_MARK}*")):
        if not staging.is_dir() or not _left_by_a_dead_run(staging):
            continue
        removed += [f"{name} (half moved)" for name in _undo_move(staging, folder)]
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging.name)
    for staged in sorted(folder.glob(f".*{PARTIAL_MARK}*")):
        if staged.is_file() and _left_by_a_dead_run(staged):
            staged.unlink()
            removed.append(staged.name)
    for path in sorted(folder.rglob(".tmp*")):
        if SAFETENSORS_TEMP.match(path.name) and path.is_file():
            path.unlink()
            removed.append(str(path.relative_to(folder)))
    if removed:
        print(f"Removed what an interrupted run left in {folder}: {', '.join(removed)}.")
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _undo_move(staging: Path, target: Path) -> list[str]:
    """The files a killed run had already moved from `staging` into `target`, removed from `target` again."""
    listing = staging / MOVING_FILE
    if not listing.is_file():
        return []
    try:
        names = json.loads(listing.read_text(encoding="utf-8"))
    except ValueError:
        names = []
    undone = []
    for name in names:
        if not (staging / name).exists() and (target / name).is_file():
            (target / name).unlink()
            undone.append(name)
    return undone


# ---------------------------------------------------------------- atomic outputs


@contextlib.contextmanager
def atomic_output(target: str | Path, needed: int | None = None) -> Iterator[Path]:
    """A staging folder for `target`'s final files, moved into `target` when the block ends without an error.

    `needed`: the bytes the output will take, when known (refused at once, in a DiskFullError, with less free). On an
    error the staging folder is removed and `target` is left as it was; a full disk becomes a DiskFullError naming
    `target`. In processes other than the main one the block writes to a scratch folder that is thrown away.
    """
    target = Path(target).absolute()  # a name even for "."
    if not is_main_process():
        with tempfile.TemporaryDirectory(prefix="kr-electra-kd-") as scratch:
            yield Path(scratch)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if needed is not None and free_bytes(target.parent) < needed:
        raise DiskFullError(target, "No space left on device", needed)
    staging = target.parent / f".{target.name}{PARTIAL_MARK}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        _move_into(staging, target)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        _raise_disk_full(error, target, needed)
        raise
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A staged path for the single file `path` (`.NAME.partial-PID`, in the same folder), moved over `path` (os.replace:
    atomic) when the block ends without an error: readers see the old file or the whole new one, never a part.

    On an error the staged file is removed and `path` is left as it was; a full disk becomes a DiskFullError naming
    `path`. What a killed run leaves is a `.NAME.partial-PID` file, which the next run that claims the folder (or the
    file, `claim_output_file`) removes.
    """
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.parent / f".{path.name}{PARTIAL_MARK}{os.getpid()}"
    try:
        yield staged
        os.replace(staged, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            staged.unlink()
        _raise_disk_full(error, path)
        raise


def _raise_disk_full(error: BaseException, target: Path, needed: int | None = None) -> None:
    """Raise a DiskFullError naming `target` from `error` when it is a full disk (and not one already)."""
    reason = disk_full_reason(error) if isinstance(error, Exception) else None
    if reason is not None and not isinstance(error, DiskFullError):
        raise DiskFullError(target, reason, needed) from error


def _move_into(staging: Path, target: Path) -> None:
    """Every file of `staging` into the same place in `target` (os.replace: atomic, same filesystem), those that make
    a folder look finished last; the list is written first, so that a kill in between can be undone."""
    names = sorted(path.relative_to(staging).as_posix() for path in staging.rglob("*") if path.is_file())
    order = {name: index for index, name in enumerate(reversed(MOVED_LAST))}
    names.sort(key=lambda name: (name in order, order.get(name, 0)))  # ..., model.safetensors, config.json
    listing = staging / MOVING_FILE
    listing.write_text(json.dumps(names), encoding="utf-8")
    for name in names:
        _move_file(staging / name, target / name)
    listing.unlink()


def _move_file(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, destination)
