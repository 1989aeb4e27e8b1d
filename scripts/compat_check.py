"""Which transformers releases load a saved KR-ELECTRA-KD folder: measured, one environment per release.

For every version asked for, this builds a virtual environment holding that transformers release from the package
index (cached outside the checkout and reused once built; torch and the rest come from this environment through
--system-site-packages). In this environment it saves a tiny folder of every head (dense and low-rank, with the
package's tokenizer trained on training/data/sample_corpus.txt) and their outputs on Korean sentences. In each release's
environment, in a fresh process where this package cannot be imported, it then loads every folder with
`AutoModel*.from_pretrained(folder, trust_remote_code=True)`, loads the tokenizer with `AutoTokenizer` and
`PreTrainedTokenizerFast`, compares tokens and outputs with this environment's, and runs `pipeline()` for
text-classification, token-classification and question-answering.

Writes benchmarks/results/compat.json and compat.md, the README's compat table and the "Tested with" line that model
cards carry (training/model_card.py reads it from compat.json).

Default versions (--versions), looked up on the package index (`pip index versions transformers`):
  - the oldest 4.x the README claims, OLDEST_4X below, and the release just below it. Measured: 4.52.1 (the first
    release with GradientCheckpointingLayer) and 4.53.x load every model and tokenizer, but their `pipeline()` loads
    no tokenizer for a config class it does not know, so every pipeline fails; 4.54.0 is the first that passes;
  - the newest 4.x;
  - the oldest 5.x pyproject.toml claims (its `transformers>=` minimum), the release just below it, and every release
    it excludes (`!=`): the measured reasons are in the README's compat section;
  - the newest 5.x.
Without the index the newest ones fall back to NEWEST_KNOWN (the newest releases when the script was last edited).
The environment this runs in is always checked, as the reference every other release is compared with (it is what
the README's install command gives; a default version equal to it is that row). A release whose environment cannot be
built (pip fails: a dependency missing from the index, say) is "not checked", with pip's last error line as the
reason, never "fail": nothing about transformers was measured.

    python scripts/compat_check.py                          # the defaults (5 min; 40 s more per new environment)
    python scripts/compat_check.py --versions 4.57.6 5.0.0  # only these
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path.home() / ".cache" / "kr-electra-kd" / "compat"
RESULTS = REPO / "benchmarks" / "results"
OLDEST_4X = "4.54.0"
NEWEST_KNOWN = {4: "4.57.6", 5: "5.25.0"}  # on the index on 2026-12-03
SCRIPT = "scripts/compat_check.py"
REFERENCE_ROLE = "this environment (reference)"
COMMAND = f"python {SCRIPT}"
# Largest output difference that still counts as the same model (float32 on CPU, other kernels between releases).
TOLERANCE = 1e-4
SENTENCES = ["이 영화 정말 재미있었어요", "배우들 연기가 어색해서 끝까지 보기 힘들었다."]
QUESTION, CONTEXT = "기차로 얼마나 걸리나요?", "서울에서 부산까지 기차로 세 시간 정도 걸립니다."
SENTIMENT_LABELS = {0: "부정", 1: "긍정"}
NER_LABELS = {0: "O", 1: "PER-B", 2: "PER-I", 3: "LOC-B", 4: "LOC-I"}
# Head name -> (Auto class, model class, config overrides, pipeline task or None).
HEADS: dict[str, tuple[str, str, dict, str | None]] = {
    "model": ("AutoModel", "KRElectraKDModel", {}, None),
    "pretraining": ("AutoModelForPreTraining", "KRElectraKDForPreTraining", {}, None),
    "masked-lm": ("AutoModelForMaskedLM", "KRElectraKDForMaskedLM", {}, None),
    "classification": (
        "AutoModelForSequenceClassification",
        "KRElectraKDForSequenceClassification",
        {"id2label": SENTIMENT_LABELS},
        "text-classification",
    ),
    "regression": (
        "AutoModelForSequenceClassification",
        "KRElectraKDForSequenceClassification",
        {"num_labels": 1, "problem_type": "regression"},
        "text-classification",
    ),
    "token-classification": (
        "AutoModelForTokenClassification",
        "KRElectraKDForTokenClassification",
        {"id2label": NER_LABELS},
        "token-classification",
    ),
    "question-answering": (
        "AutoModelForQuestionAnswering",
        "KRElectraKDForQuestionAnswering",
        {},
        "question-answering",
    ),
}
CONFIGS = ("dense", "low-rank")
LOW_RANKS = (16, 16, 32)  # embedding, attention, FFN rank of the low-rank folders (training.defaults.RANK_FIELDS)


def progress(message: str) -> None:
    print(f"[compat] {message}", flush=True)


def error_line(error: BaseException | str) -> str:
    """One line for a table cell: the exception's type and its message's first line."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return (lines[0] if lines else "unknown error")[:200].replace("|", "/")


# ---------------------------------------------------------------------------------------------------------------------
# Versions


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def released_versions() -> list[str] | None:
    """Every final transformers release on the package index (`pip index versions`), or None if it cannot be read."""
    command = [sys.executable, "-m", "pip", "index", "versions", "transformers"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Available versions:\s*(.+)", result.stdout)
    if result.returncode != 0 or not match:
        return None
    return [version.strip() for version in match.group(1).split(",") if version.strip()]


def newest(versions: list[str], major: int) -> str:
    return max((v for v in versions if version_key(v)[0] == major), key=version_key)


def oldest_at_least(versions: list[str], minimum: str) -> str:
    """The first release at or above `minimum` (pyproject writes "5.0"; the release is "5.0.0")."""
    return min((v for v in versions if version_key(v) >= version_key(minimum)), key=version_key)


def pyproject_claims() -> tuple[str, list[str]]:
    """pyproject.toml's transformers requirement: its minimum (`>=X`) and the releases it excludes (`!=X`)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    spec = re.search(r'"transformers\s*([<>=!~][^"]*)"', text)
    minimum = re.search(r">=([\d.]+)", spec.group(1)) if spec else None
    if not minimum:
        raise ValueError("pyproject.toml declares no `transformers>=` minimum.")
    return minimum.group(1), re.findall(r"!=([\d.]+)", spec.group(1))


def default_versions(released: list[str] | None) -> dict[str, str]:
    """Version -> why it is tested (see the module docstring)."""
    minimum, excluded = pyproject_claims()
    if not released:
        progress("the package index cannot be reached: newest releases as last known (NEWEST_KNOWN)")
        chosen = {OLDEST_4X: "oldest 4.x claimed", NEWEST_KNOWN[4]: "newest 4.x", NEWEST_KNOWN[5]: "newest 5.x"}
        release = ".".join((minimum.split(".") + ["0", "0"])[:3])  # "5.2" -> "5.2.0", as a cached folder is named
        chosen[release] = "oldest 5.x claimed (pyproject.toml)"
        return dict(sorted(chosen.items(), key=lambda item: version_key(item[0])))

    def below(version: str) -> str:
        return max((v for v in released if version_key(v) < version_key(version)), key=version_key)

    oldest_5 = oldest_at_least(released, minimum)
    chosen = {
        below(OLDEST_4X): "the release below the 4.x claim",
        OLDEST_4X: "oldest 4.x claimed",
        newest(released, 4): "newest 4.x",
        below(oldest_5): "the release below the 5.x claim",
        oldest_5: "oldest 5.x claimed (pyproject.toml)",
        **{version: "excluded in pyproject.toml" for version in excluded},
        newest(released, 5): "newest 5.x",
    }
    return dict(sorted(chosen.items(), key=lambda item: version_key(item[0])))


# ---------------------------------------------------------------------------------------------------------------------
# Environments


class EnvironmentNotBuilt(RuntimeError):
    """A release's environment could not be installed (pip, the index): the release is "not checked", never "fail"."""


def run_or_raise(command: list[str]) -> None:
    """Run a build step; a failure raises with pip's last ERROR line (or the first line it wrote)."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        errors = [line for line in (result.stderr or result.stdout).splitlines() if line.startswith("ERROR")]
        step = " ".join(arg for arg in command[2:] if not arg.startswith("/"))  # no machine paths in results
        raise RuntimeError(f"`{step}` failed: {error_line(errors[-1] if errors else result.stderr)}")


def build_environment(version: str, cache: Path) -> tuple[Path, float]:
    """The Python of a virtual environment with transformers `version`, built under `cache` unless it already is;
    returns it and the seconds its build took (when it was built, possibly on an earlier run). A build that fails
    (no such release, a dependency missing from the index) raises EnvironmentNotBuilt with pip's last error line.

    The environment sees this one's packages (torch, safetensors, numpy) after its own: --system-site-packages does
    that for a system Python, the .pth file for this script running inside a virtual environment."""
    folder = cache / version
    python, marker = folder / "bin" / "python", folder / "compat_built.json"
    if marker.is_file() and python.is_file():
        seconds = json.loads(marker.read_text(encoding="utf-8"))["build_seconds"]
        progress(f"transformers {version}: reusing {folder} (built in {seconds:.0f} s)")
        return python, seconds
    progress(f"transformers {version}: building {folder} from the package index")
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    try:
        run_or_raise([sys.executable, "-m", "venv", "--system-site-packages", str(folder)])
        own = folder / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        (own / "compat_parent.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
        run_or_raise([str(python), "-m", "pip", "install", "-q", f"transformers=={version}"])
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        raise EnvironmentNotBuilt(error_line(str(error))) from error
    seconds = time.perf_counter() - start
    marker.write_text(json.dumps({"transformers": version, "build_seconds": seconds}) + "\n", encoding="utf-8")
    progress(f"transformers {version}: built in {seconds:.0f} s")
    return python, seconds


# ---------------------------------------------------------------------------------------------------------------------
# Folders and reference outputs, saved in this environment


def save_folders(root: Path) -> None:
    """A folder per config and head under `root`, each with the tokenizer, and reference.safetensors (the inputs and
    every output tensor this environment computes) and manifest.json."""
    import torch
    from safetensors.torch import save_file
    from transformers.utils.logging import disable_progress_bar

    import modeling_kr_electra_kd
    from training.defaults import RANK_FIELDS
    from training.tokenizer import save_tokenizer, train_tokenizer

    disable_progress_bar()  # one "Writing model shards" bar per folder otherwise
    corpus = (REPO / "training" / "data" / "sample_corpus.txt").read_text(encoding="utf-8").splitlines()
    tokenizer = train_tokenizer(corpus, vocab_size=2000, show_progress=False, model_max_length=128)
    encoded = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    reference = {f"inputs/{key}": value for key, value in encoded.items()}
    ranks = {"dense": {}, "low-rank": dict(zip(RANK_FIELDS, LOW_RANKS))}
    for config_name in CONFIGS:
        for head, (_, class_name, overrides, _) in HEADS.items():
            torch.manual_seed(0)
            config = modeling_kr_electra_kd.KRElectraKDConfig.from_preset(
                "tiny", vocab_size=len(tokenizer), **ranks[config_name], **overrides
            )
            model = getattr(modeling_kr_electra_kd, class_name)(config).eval()
            folder = root / f"{config_name}-{head}"
            model.save_pretrained(folder)
            save_tokenizer(tokenizer, folder)
            with torch.no_grad():
                outputs = model(**encoded)
            for key, value in outputs.items():
                if isinstance(value, torch.Tensor):
                    reference[f"{folder.name}/{key}"] = value.contiguous()
    save_file(reference, str(root / "reference.safetensors"))
    manifest = {f"{c}-{h}": {"auto_class": a, "task": t} for c in CONFIGS for h, (a, _, _, t) in HEADS.items()}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    progress(f"saved {len(manifest)} folders ({len(HEADS)} heads x {', '.join(CONFIGS)}) under {root}")


# ---------------------------------------------------------------------------------------------------------------------
# The child: runs inside a release's environment, with only the standard library imported at module level


def block_package() -> None:
    """Make this package unimportable, so only the folders' own copies of the code can serve."""
    import importlib.abc

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_kr_electra_kd", "training"):
                raise ImportError(f"{name} must not be importable here")
            return None

    sys.meta_path.insert(0, Blocker())


# Optional integrations this environment carries for its own transformers (5.25 requires kernels>=0.19) that an older
# release, seeing them through the parent's site-packages, would import and break on (4.54: ImportError from
# huggingface_hub; 5.2, 5.3: "Either a revision or a version must be specified"). A user of that release has no such
# copy; the release's environment hides them unless it installed its own.
PARENT_ONLY = ("kernels",)


def hide_parent_extras() -> None:
    """Make each PARENT_ONLY package that comes from the parent environment unfindable (find_spec gives None)."""
    import importlib.util
    import sysconfig

    own = Path(sysconfig.get_paths()["purelib"]).resolve()
    for name in PARENT_ONLY:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin and not Path(spec.origin).resolve().is_relative_to(own):
            sys.modules[name] = None  # type: ignore[assignment]


def run_pipeline(task: str, folder: Path) -> Any:
    from transformers import pipeline

    nlp = pipeline(task, model=str(folder), trust_remote_code=True)
    if task == "question-answering":
        return nlp(question=QUESTION, context=CONTEXT)
    return nlp(SENTENCES[0])


def check_tokenizers(folder: Path, reference: dict) -> str | None:
    """None when AutoTokenizer and PreTrainedTokenizerFast both load and give the reference tokens, else why not."""
    import transformers

    loaders = {
        "AutoTokenizer": lambda: transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=True),
        "PreTrainedTokenizerFast": lambda: transformers.PreTrainedTokenizerFast.from_pretrained(folder),
    }
    for name, load in loaders.items():
        encoded = load()(SENTENCES, padding=True, return_tensors="pt")
        for key, value in encoded.items():
            expected = reference.get(f"inputs/{key}")
            if expected is not None and not (value.shape == expected.shape and bool((value == expected).all())):
                return f"{name}: {key} differ from this environment's"
    return None


def check_folder(folder: Path, entry: dict, reference: dict) -> dict:
    """Load one folder (model, tokenizers, pipeline) and compare with the reference; never raises."""
    import torch
    import transformers

    report: dict[str, Any] = {"loads": False, "tokenizer_ok": False, "max_abs_diff": None, "pipeline": None}
    try:
        auto_class = getattr(transformers, entry["auto_class"])
        model = auto_class.from_pretrained(folder, trust_remote_code=True).eval()
        report["module"] = type(model).__module__
        report["loads"] = report["module"].startswith("transformers_modules")
        inputs = {key.split("/", 1)[1]: value for key, value in reference.items() if key.startswith("inputs/")}
        with torch.no_grad():
            outputs = model(**inputs)
        diffs = [
            (outputs[key.split("/", 1)[1]] - value).abs().max().item()
            for key, value in reference.items()
            if key.startswith(f"{folder.name}/")
        ]
        report["max_abs_diff"] = max(diffs)
        tokenizer_error = check_tokenizers(folder, reference)
        report["tokenizer_ok"] = tokenizer_error is None
        if tokenizer_error:
            report["error"] = tokenizer_error
        if entry["task"]:
            report["pipeline"] = run_pipeline(entry["task"], folder)
    except Exception as error:  # the table records every failure, whatever it is
        report["error"] = error_line(error)
    return report


def child_main(root: Path) -> None:
    """Entry point inside a release's environment: print `REPORT{json}` for every folder under `root`."""
    block_package()
    hide_parent_extras()
    import torch
    import transformers
    from safetensors.torch import load_file

    reference = load_file(str(root / "reference.safetensors"))
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    report = {"transformers": transformers.__version__, "torch": torch.__version__, "folders": {}}
    for name, entry in manifest.items():
        report["folders"][name] = check_folder(root / name, entry, reference)
    print("REPORT" + json.dumps(report, ensure_ascii=False, default=float))


# ---------------------------------------------------------------------------------------------------------------------
# The parent: run the child in an environment, judge what it reports


def run_child(python: Path, root: Path, work: Path) -> dict:
    """Run the child with `python` in a fresh process (no PYTHONPATH, offline, its own HF_HOME); its report."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    home = Path(tempfile.mkdtemp(prefix="hf_home_", dir=work))
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(home), TOKENIZERS_PARALLELISM="false", TRANSFORMERS_VERBOSITY="error")
    command = [str(python), str(Path(__file__).resolve()), "--child", str(root)]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0 or "REPORT" not in result.stdout:
        raise RuntimeError(error_line(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no report"))
    return json.loads(result.stdout.split("REPORT", 1)[1])


def same(got: Any, expected: Any) -> bool:
    """Pipeline outputs agree: the same structure and strings, numbers within TOLERANCE."""
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(same(got[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(same, got, expected))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(got, (int, float)) and abs(got - expected) <= TOLERANCE
    return got == expected


def folder_verdict(got: dict, expected: dict) -> dict:
    """One folder's result in one release against this environment's."""
    ok_pipeline = (
        None
        if expected["pipeline"] is None
        else (got["pipeline"] is not None and same(got["pipeline"], expected["pipeline"]))
    )
    diff = got["max_abs_diff"]
    if diff is not None and not math.isfinite(diff):
        diff = str(diff)  # NaN or infinity: strict JSON has neither
    error = got.get("error")
    if error is None and diff is not None and not (isinstance(diff, float) and diff <= TOLERANCE):
        error = f"outputs differ by {diff if isinstance(diff, str) else format(diff, '.2e')}"
    if error is None and ok_pipeline is False:
        error = "pipeline output differs from this environment's"
    return {
        "loads": got["loads"],
        "tokenizer_ok": got["tokenizer_ok"],
        "max_abs_diff": diff,
        "pipeline_ok": ok_pipeline,
        "error": error,
    }


def head_rows(version: str, role: str, verdicts: dict[str, dict]) -> list[dict]:
    """One row per head for one release: its dense and low-rank folders together."""
    rows = []
    for head in HEADS:
        cells = {config: verdicts[f"{config}-{head}"] for config in CONFIGS}
        errors = [f"{config}: {cell['error']}" for config, cell in cells.items() if cell["error"]]
        pipelines = [cell["pipeline_ok"] for cell in cells.values() if cell["pipeline_ok"] is not None]
        rows.append(
            {
                "transformers": version,
                "chosen_as": role,
                "head": head,
                "loads": all(cell["loads"] for cell in cells.values()),
                "tokenizer_ok": all(cell["tokenizer_ok"] for cell in cells.values()),
                "max_abs_diff": {config: cell["max_abs_diff"] for config, cell in cells.items()},
                "pipeline_ok": all(pipelines) if pipelines else None,
                "ok": not errors,
                "error": "; ".join(errors) or None,
            }
        )
    return rows


def failed_rows(version: str, role: str, error: str) -> list[dict]:
    """Every head's row for a release whose child process died in its (built) environment."""
    cell = {"loads": False, "tokenizer_ok": False, "max_abs_diff": None, "pipeline_ok": None, "error": error}
    return head_rows(version, role, {f"{config}-{head}": cell for config in CONFIGS for head in HEADS})


def status_of(rows: list[dict]) -> str:
    """A checked release: "pass" when every head passes, else "fail" (a release never checked is NOT_CHECKED)."""
    return "pass" if all(row["ok"] for row in rows) else "fail"


NOT_CHECKED = "not checked"


def check_version(version: str, role: str, cache: Path, root: Path, expected: dict) -> tuple[dict, list[dict]]:
    """Build (or reuse) one release's environment and check every folder in it: its summary and rows. A release whose
    environment cannot be built is "not checked" (with pip's reason) and has no rows: nothing about it was measured."""
    summary: dict[str, Any] = {"transformers": version, "chosen_as": role, "environment_build_seconds": None}
    try:
        python, built_seconds = build_environment(version, cache)
    except EnvironmentNotBuilt as error:
        progress(f"transformers {version}: not checked, its environment could not be built: {error}")
        return {**summary, "check_seconds": None, "status": NOT_CHECKED, "reason": str(error)}, []
    summary["environment_build_seconds"] = round(built_seconds, 1)
    start = time.perf_counter()
    try:
        report = run_child(python, root, root.parent)
        if report["transformers"] != version:
            raise RuntimeError(f"the environment imports transformers {report['transformers']}, not {version}")
        verdicts = {name: folder_verdict(got, expected[name]) for name, got in report["folders"].items()}
        rows = head_rows(version, role, verdicts)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        rows = failed_rows(version, role, error_line(error))
    summary.update(check_seconds=round(time.perf_counter() - start, 1), status=status_of(rows), reason=None)
    failures = sum(not row["ok"] for row in rows)
    progress(f"transformers {version}: {len(rows) - failures}/{len(rows)} heads ok ({summary['check_seconds']} s)")
    return summary, rows


def tested_with(summaries: list[dict], date: str) -> str:
    """The sentence model cards and the README carry: the spans of consecutive tested releases that passed, the
    releases that failed, and the releases that could not be checked (their environment did not install), with why."""
    spans: list[list[str]] = []
    failed, not_checked = [], []
    previous_ok = False
    for summary in sorted(summaries, key=lambda s: version_key(s["transformers"])):
        version, status = summary["transformers"], summary["status"]
        if status == NOT_CHECKED:
            not_checked.append(f"{version} not checked (its environment could not be built: {summary['reason']})")
        elif status != "pass":
            failed.append(version)
        elif previous_ok:
            spans[-1].append(version)
        else:
            spans.append([version])
        previous_ok = status == "pass"
    if not spans:
        text = f"No tested transformers release loads every head ({SCRIPT}, {date})"
    else:
        names = [span[0] if len(span) == 1 else f"{span[0]}–{span[-1]}" for span in spans]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        text = f"Tested with transformers {listed} ({SCRIPT}, {date})"
    clauses = ([f"{', '.join(failed)} fail"] if failed else []) + not_checked
    return text + (f"; {'; '.join(clauses)}." if clauses else ".")


def run_checks(versions: dict[str, str], cache: Path, work: Path) -> dict:
    """Save the folders here, check them in this environment (the reference) and in each release's; the result."""
    import platform

    import torch
    import transformers

    root = work / "folders"
    save_folders(root)
    progress(f"this environment (transformers {transformers.__version__}): computing the reference")
    reference = run_child(Path(sys.executable), root, work)
    expected = {name: {**got, "max_abs_diff": None} for name, got in reference["folders"].items()}
    this = {name: folder_verdict(got, expected[name]) for name, got in reference["folders"].items()}
    # The running environment is always checked (the reference: what the README's install gives); a release asked
    # for that is this one is that row, not a second environment.
    others = dict(versions)
    role = "; ".join(
        [REFERENCE_ROLE] + ([others.pop(transformers.__version__)] if transformers.__version__ in others else [])
    )
    rows = head_rows(transformers.__version__, role, this)
    summaries = [
        {"transformers": transformers.__version__, "chosen_as": role, "environment_build_seconds": None,
         "check_seconds": None, "status": status_of(rows), "reason": None}
    ]  # fmt: skip
    for version, role in others.items():
        summary, version_rows = check_version(version, role, cache, root, expected)
        summaries.append(summary)
        rows += version_rows
    date = time.strftime("%Y-%m-%d", time.gmtime())
    return {
        "command": COMMAND,
        "date": date,
        "reference": {"transformers": transformers.__version__, "torch": torch.__version__,
                      "python": platform.python_version()},
        "tolerance": TOLERANCE,
        "tested_with": tested_with(summaries, date),
        "versions": summaries,
        "rows": rows,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Results


def diff_cell(diffs: dict[str, float | str | None]) -> str:
    cells = [diffs[config] for config in CONFIGS]
    return " / ".join("—" if d is None else (d if isinstance(d, str) else f"{d:.1e}") for d in cells)


def yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


def status_cell(summary: dict) -> str:
    """A release's verdict: yes, **no**, or not checked and why (its environment could not be built)."""
    if summary["status"] == NOT_CHECKED:
        return f"not checked: environment could not be built ({summary['reason']})"
    return yes_no(summary["status"] == "pass")


def markdown(result: dict) -> str:
    """compat.md (and the README's compat section): the sentence, one line per release, one row per release x head."""
    lines = [
        f"{result['tested_with']} Reference: this environment, transformers {result['reference']['transformers']}, "
        f"torch {result['reference']['torch']}; a folder passes when it loads through its own code, its tokenizer "
        f"gives the same tokens, outputs differ by at most {result['tolerance']:g} and pipelines agree.",
        "",
        "| transformers | chosen as | environment built in | check took | every head passes |",
        "|---|---|---|---|---|",
    ]
    for s in result["versions"]:
        built = "—" if s["environment_build_seconds"] is None else f"{s['environment_build_seconds']:.0f} s"
        took = "—" if s["check_seconds"] is None else f"{s['check_seconds']:.0f} s"
        lines.append(f"| {s['transformers']} | {s['chosen_as']} | {built} | {took} | {status_cell(s)} |")
    lines += [
        "",
        "| transformers | head | loads | tokenizer | max abs diff (dense / low-rank) | pipeline | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['transformers']} | {row['head']} | {yes_no(row['loads'])} | {yes_no(row['tokenizer_ok'])} | "
            f"{diff_cell(row['max_abs_diff'])} | {yes_no(row['pipeline_ok'])} | {row['error'] or ''} |"
        )
    return "\n".join(lines) + "\n"


def write_results(result: dict, output_dir: Path) -> None:
    """compat.json and compat.md under `output_dir`, and the README's compat section when they are the committed ones."""
    sys.path.insert(0, str(REPO))
    from benchmarks.report import save_results

    save_results(result, output_dir, "compat", markdown)
    if output_dir.resolve() == RESULTS.resolve():
        sys.path.insert(0, str(REPO / "scripts"))
        from update_readme import README, render

        README.write_text(render(README.read_text(encoding="utf-8"), names=("compat",)), encoding="utf-8")
        progress("README.md: compat section rewritten")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--versions", nargs="+", metavar="X.Y.Z",
        help="transformers releases to test (default: the releases described above, from the package index)",
    )  # fmt: skip
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE,
        help=f"where the environments live, one folder per release, reused once built (default: {DEFAULT_CACHE})",
    )  # fmt: skip
    parser.add_argument(
        "--output_dir", type=Path, default=RESULTS,
        help="where compat.json and compat.md go; the README is rewritten only for the default (benchmarks/results)",
    )  # fmt: skip
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # internal: run inside a release's environment
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args.child)
        return 0
    sys.path.insert(0, str(REPO))
    start = time.perf_counter()
    versions = (
        {v: "asked for" for v in sorted(args.versions, key=version_key)}
        if args.versions
        else default_versions(released_versions())
    )
    progress(f"versions: {', '.join(f'{v} ({role})' for v, role in versions.items())}")
    with tempfile.TemporaryDirectory(prefix="compat_") as work:
        result = run_checks(versions, args.cache, Path(work))
    write_results(result, args.output_dir)
    progress(f"done in {time.perf_counter() - start:.0f} s: {result['tested_with']}")
    # Releases below a claim or excluded are expected to fail; a claimed one (or this environment) failing, or not
    # checked, is an error.
    broken = [
        s["transformers"]
        for s in result["versions"]
        if s["status"] != "pass" and ("claimed" in s["chosen_as"] or s["chosen_as"].startswith(REFERENCE_ROLE))
    ]
    if broken:
        progress(
            f"claimed but failing or not checked: {', '.join(broken)}; raise the claim (OLDEST_4X or pyproject.toml)"
        )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
