"""Where a model's numbers and inputs came from, written so that nothing names a path of the machine that ran it.

What a run writes into its folder (results.json, distillation.json, training_args.json, the card) is published with
the model by upload.py. A local path there is meaningless elsewhere and leaks the machine's layout, so writers record
each path relative to the run folder (`./x`, `../teacher`) and a Hub id as it is; `find_local_paths` is the check
upload.py runs on everything it would send. The package's embedded sample data is recorded as such (`sample:NAME`),
so a card never passes a score on 200 sample rows off as a score on the real dataset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
# A machine path: absolute (POSIX or Windows) or in a home folder.
ABSOLUTE_PATH = re.compile(r"^(/|~|[A-Za-z]:[\\/])")
# An absolute path inside text (a card's body): a slash-led path of two or more parts not inside a URL.
ABSOLUTE_PATH_IN_TEXT = re.compile(r"(?:^|[\s`'\"(\[=])((?:~|/)[\w.-]+/[\w./-]+)")
# Fields of the files a run writes whose values are paths (or Hub ids), at any depth.
PATH_FIELDS = frozenset(
    {
        "model_name_or_path",
        "data_dir",
        "teacher",
        "corpus",
        "dataset_name",
        "transfer_corpus",
        "student_init",
        "init",
        "model_dir",
        "path",
        "output_dir",
        "logging_dir",
        "resume_from_checkpoint",
        "base_model",
    }
)


def is_local(value: str) -> bool:
    """True for a value that names a local file or folder rather than a Hub id."""
    return bool(ABSOLUTE_PATH.match(value)) or value.startswith(".") or Path(value).exists()


def portable_path(value: str | Path | None, run_folder: str | Path) -> str | None:
    """`value` as a run's files should record it: a Hub id unchanged, a local path relative to `run_folder`
    (`./x` or `../x`), the package's sample data as `sample:NAME`."""
    if value is None:
        return None
    text = str(value)
    if not is_local(text):
        return text
    path = Path(text).expanduser().resolve()
    if path.is_relative_to(PACKAGE_DATA):
        return f"sample:{path.relative_to(PACKAGE_DATA).as_posix()}"
    relative = Path(os.path.relpath(path, Path(run_folder).resolve())).as_posix()
    return relative if relative.startswith("../") or relative == "." else f"./{relative}"


def portable_data_source(data_source: str, run_folder: str | Path) -> str:
    """A reader's `local:FOLDER` / `hub:ID` with FOLDER made portable (`sample:NAME` for the package's sample)."""
    kind, _, where = data_source.partition(":")
    if kind != "local":
        return data_source
    portable = portable_path(where, run_folder) or where
    return portable if portable.startswith("sample:") else f"local:{portable}"


def rebase(value: str, from_folder: str | Path, to_folder: str | Path) -> str:
    """A run-relative path recorded in `from_folder`, made relative to `to_folder` (other values unchanged)."""
    if not value.startswith(("./", "../")):
        return value
    return portable_path(str(Path(from_folder) / value), to_folder) or value


def find_local_paths(data: Any, base_folder: str | Path, where: str = "") -> Iterator[tuple[str, str]]:
    """(field, value) of each local path in `data` (parsed JSON or card metadata): an absolute or home path
    anywhere, and in a path field a value that exists relative to the current folder or to `base_folder`'s parent
    without the `./` / `../` that marks a run-relative path (it was written relative to wherever the command ran)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from find_local_paths(value, base_folder, f"{where}.{key}" if where else str(key))
        return
    if isinstance(data, list):
        for index, value in enumerate(data):
            yield from find_local_paths(value, base_folder, f"{where}[{index}]")
        return
    if not isinstance(data, str) or not data:
        return
    value = data.removeprefix("local:")
    field = re.sub(r"\[\d+\]$", "", where).rsplit(".", 1)[-1]
    if ABSOLUTE_PATH.match(value) and "/" in value.lstrip("/~"):
        yield where, data
    elif ABSOLUTE_PATH.match(value) and field in PATH_FIELDS:
        yield where, data
    elif field in PATH_FIELDS and not value.startswith(("./", "../", "sample:", "hub:")):
        parent = Path(base_folder).resolve().parent
        if value not in (".", "") and (Path(value).exists() or (parent / value).exists()):
            yield where, data


def find_local_paths_in_text(text: str) -> list[str]:
    """Absolute or home paths written in free text (a card's body)."""
    return ABSOLUTE_PATH_IN_TEXT.findall(text)


def published_path(value: str, base: str | Path, beside: bool = False) -> str:
    """A path as a published result (benchmarks/results, the README) names it: inside `base` (the repository) relative
    to it (`runs/x`), elsewhere by its name alone (`/tmp/h12/lf3-nsmc` -> `lf3-nsmc`, `../shared/data/nsmc` -> `nsmc`):
    a folder of the machine that ran it means nothing to a reader. With `beside`, a path in the folder holding `base`
    stays relative to `base` (`../shared/data/nsmc`: the benchmarks' data, which a re-run of a result reads back). A
    relative path is taken from `base` (where the benchmarks run); a Hub id, `runs/x` or `sample:NAME` is unchanged."""
    prefix = "local:" if value.startswith("local:") else ""
    text = value.removeprefix(prefix)
    machine_path = ABSOLUTE_PATH.match(text) and "/" in text.lstrip("/~")  # "/s" in "tokens /s" is no path
    if not (machine_path or text.startswith("../")):
        return value
    root = Path(base).resolve()
    path = Path(os.path.normpath(root / Path(text).expanduser()))
    if path.is_relative_to(root) or (beside and path.is_relative_to(root.parent)):
        return prefix + Path(os.path.relpath(path, root)).as_posix()
    return prefix + (path.name or text)


def published_paths(data: Any, base: str | Path) -> Any:
    """`data` (parsed JSON) as a published result records it: a value that is a path made `published_path` (`beside`
    kept), and each path in a command line named by its name (`--model /tmp/x/lf3-nsmc` or `--model=/tmp/x/lf3-nsmc`
    -> `--model lf3-nsmc`, `--data-dir ../shared/data/nsmc` -> `--data-dir nsmc`): commands are what the README shows."""
    if isinstance(data, dict):
        return {key: published_paths(value, base) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [published_paths(value, base) for value in data]
    if isinstance(data, Path):
        data = str(data)
    if not isinstance(data, str):
        return data
    if " " not in data:
        return published_path(data, base, beside=True)
    words = [word.partition("=") if word.startswith("--") else ("", "", word) for word in data.split(" ")]
    return " ".join(option + equals + published_path(value, base) for option, equals, value in words)
