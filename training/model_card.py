"""Model cards written from facts: a student folder's config and weights, its results JSON files, the teacher's
results on the same tasks, how it was distilled (distillation.json) and, where measured, its CPU speed.

The YAML metadata (language, license, pipeline tag, datasets, base model, `model-index`) is built with
huggingface_hub's card classes, which validate every result; the body comes from `template.md`.

    kr-electra-kd card --model runs/student-nsmc --results runs/student-nsmc/results.json \\
        --teacher_results runs/teacher-nsmc/results.json --teacher org/kr-electra-teacher
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import AutoConfig

from modeling_kr_electra_kd import LAYER_MATRICES
from training.heads import head_of_architecture
from training.outputs import atomic_file, claim_output_folder
from training.provenance import HUB_ID, is_local, portable_path, rebase
from training.web_server import browser_card_text

# The template is package data of the top-level `model_cards` package, installed beside `training`.
TEMPLATE = Path(__file__).resolve().parents[1] / "model_cards" / "template.md"
LICENSE = "apache-2.0"
TAGS = ["korean", "electra", "knowledge-distillation", "low-rank", "kr-electra-kd"]
# The results table's first line (upload.py refuses a card showing it without a model-index).
RESULTS_TABLE_HEADER = "| task | metric | this model | teacher | retention | eval data | eval split | eval examples |"
RESULTS_TABLE_MARK = "| task | metric | this model |"  # also in cards written before the data columns
TASK_TYPES = {
    "classification": "text-classification",
    "regression": "text-classification",
    "token-classification": "token-classification",
    "question-answering": "question-answering",
}


def load_results(items: list[str | Path | dict] | None) -> list[dict]:
    results = []
    for item in items or []:
        if isinstance(item, dict):
            results.append(item)
            continue
        path = Path(item)
        if not path.is_file():
            raise ValueError(f"Results file not found: {path} (written by `kr-electra-kd finetune` or `evaluate`).")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
        for key in ("task", "metrics", "primary_metric"):
            if key not in data:
                raise ValueError(f"{path} has no {key!r}: it is not a results JSON of `kr-electra-kd finetune`.")
        results.append(data)
    return results


def _check_results_match(results: list[dict], config, model_dir: Path) -> None:
    """A results JSON must describe this model: same task as it was fine-tuned on, same number of outputs."""
    from training.tasks import get_task

    trained_on = getattr(config, "finetuning_task", None)
    for result in results:
        task = get_task(result["task"])
        if trained_on and trained_on != task.name:
            raise ValueError(
                f"Results for task {task.name} do not match {model_dir}, which was fine-tuned on {trained_on}; pass "
                "the results.json written with this model."
            )
        if task.kind != "question-answering" and config.num_labels != task.num_labels:
            raise ValueError(
                f"Results for task {task.name} ({task.num_labels} outputs) do not match {model_dir} "
                f"({config.num_labels} outputs)."
            )


def _size_mb(model_dir: Path) -> float | None:
    weights = model_dir / "model.safetensors"
    return weights.stat().st_size / 1e6 if weights.is_file() else None


def _parameters(model_dir: Path) -> int | None:
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        return None
    from safetensors import safe_open

    total = 0
    with safe_open(str(weights), "pt") as handle:
        for key in handle.keys():
            shape = handle.get_slice(key).get_shape()
            count = 1
            for dim in shape:
                count *= dim
            total += count
    return total


def data_origin(result: dict) -> tuple[str, str, str]:
    """(model-index dataset type, dataset name, plain words for the results table) of the data a results JSON was
    measured on, from its `data_source`: a Hub dataset is named by its id; the package's sample data and a local
    folder are named as such, never as the Hub dataset of the same task."""
    from training.tasks import get_task

    task = get_task(result["task"])
    kind, _, where = str(result.get("data_source") or "").partition(":")
    if kind == "hub":
        return where, task.name, f"Hub dataset `{where}`"
    # results written before data_source said "sample:" name the package's data folder
    if kind == "sample" or (kind == "local" and "training/data/sample_" in where.replace("\\", "/")):
        name = f"{task.name} sample data packaged with kr-electra-kd (not the {task.name} test set)"
        return f"kr-electra-kd-sample-{task.name}", name, "**sample data** packaged with kr-electra-kd"
    if kind == "local":
        return task.name, f"{task.name} (local copy of the original files)", "local copy of the original files"
    return task.name, task.name, "source not recorded"


def eval_results(results: list[dict], model_name: str) -> list[EvalResult]:
    from training.tasks import get_task

    evals = []
    for result in results:
        task = get_task(result["task"])
        dataset_type, dataset_name, _ = data_origin(result)
        for metric, value in result["metrics"].items():
            evals.append(
                EvalResult(
                    task_type=TASK_TYPES.get(task.kind, "text-classification"),
                    task_name=task.description,
                    dataset_type=dataset_type,
                    dataset_name=dataset_name,
                    dataset_split=str((result.get("splits") or {}).get("eval", "eval")),
                    metric_type=metric,
                    metric_name=metric,
                    metric_value=round(float(value), 4),
                )
            )
    return evals


def _results_table(results: list[dict], teacher_results: list[dict]) -> str:
    if not results:
        return (
            "No task results have been measured for this model yet: it has not been fine-tuned and evaluated. "
            "Fine-tune it with `kr-electra-kd finetune` and regenerate this card to add them."
        )
    teacher_by_task = {result["task"]: result for result in teacher_results}
    lines = [RESULTS_TABLE_HEADER, "|---|---|---|---|---|---|---|---|"]
    for result in results:
        metric = result["primary_metric"]
        score = result["metrics"][metric]
        teacher = teacher_by_task.get(result["task"])
        teacher_score = teacher["metrics"].get(metric) if teacher else None
        retention = f"{100 * score / teacher_score:.1f}%" if teacher_score else "n/a"
        teacher_text = f"{teacher_score:.2f}" if teacher_score is not None else "not measured"
        split = str((result.get("splits") or {}).get("eval", "n/a"))
        lines.append(
            f"| {result['task']} | {metric} | {score:.2f} | {teacher_text} | {retention} | {data_origin(result)[2]} | "
            f"{split} | {result.get('num_eval_samples', 'n/a')} |"
        )
    if any(data_origin(result)[0].startswith("kr-electra-kd-sample") for result in results):
        lines += [
            "",
            "**These scores were measured on sample data**: the few hundred example rows packaged with kr-electra-kd "
            "to run the pipeline end to end, not the task's real test set. They say nothing about how well this "
            "model does the task; fine-tune and evaluate it on the real data for that.",
        ]
    return "\n".join(lines)


def _baselines_text(results: list[dict]) -> str:
    """What each task scores without a neural model on the same rows, where the results carry it (finetune
    --baselines): a reader sees whether the model learned the task."""
    lines = []
    for result in results:
        baselines, metric = result.get("baselines"), result["primary_metric"]
        if baselines:
            trivial, classical = baselines["trivial"], baselines["classical"]
            lines.append(
                f"- {result['task']} ({metric}): this model {result['metrics'][metric]:.2f}; without a neural model "
                f"{trivial['metrics'][metric]:.2f} ({trivial['method']}) and {classical['metrics'][metric]:.2f} "
                f"({classical['method']})."
            )
    return "Baselines on the same training and evaluation rows:\n\n" + "\n".join(lines) if lines else ""


def _rebased_record(path: Path, model_dir: Path) -> dict:
    """distillation.json with its run-relative paths (relative to its own folder) made relative to `model_dir`."""
    record = json.loads(path.read_text(encoding="utf-8"))
    for key in ("teacher", "corpus", "transfer_corpus"):
        value = record.get(key)
        if isinstance(value, str):
            record[key] = rebase(value, path.parent, model_dir)
        elif isinstance(value, list):
            record[key] = [rebase(item, path.parent, model_dir) for item in value]
    dataset = record.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("dataset_name"), str):
        record["dataset"] = {**dataset, "dataset_name": rebase(dataset["dataset_name"], path.parent, model_dir)}
    init = record.get("student_init")
    if isinstance(init, dict) and isinstance(init.get("init"), str):
        record["student_init"] = {**init, "init": rebase(init["init"], path.parent, model_dir)}
    return record


def _teacher_text(teacher: str) -> str:
    return f"`{teacher}`" + (" (a local folder, relative to this one)" if is_local(teacher) else "")


def _dataset_text(dataset: dict | None) -> str:
    """The `datasets` corpus of a distillation record (distill --dataset_name), as the card's Mode line ends."""
    if not dataset:
        return ""
    config = f" ({dataset['dataset_config_name']})" if dataset.get("dataset_config_name") else ""
    return f", dataset `{dataset['dataset_name']}`{config}, split {dataset.get('dataset_split', 'train')}"


def _distillation_text(record: dict | None, teacher: str | None) -> str:
    if not record:
        return (
            f"Teacher: {_teacher_text(teacher)}. " if teacher else ""
        ) + "No distillation record (`distillation.json`) was given."
    weights = ", ".join(f"{name} {value:g}" for name, value in (record.get("loss_weights") or {}).items() if value)
    parts = [
        f"- Teacher: {_teacher_text(teacher or record.get('teacher') or 'unknown')}",
        f"- Mode: {record.get('mode', 'unknown')}"
        + (f" on `{record['task']}`" if record.get("task") else "")
        + (f", corpus {', '.join(map(str, record['corpus']))}" if record.get("corpus") else "")
        + _dataset_text(record.get("dataset")),
        f"- Steps: {record.get('steps', 'unknown')}; temperature {record.get('temperature', 'n/a')}",
        f"- Loss: {weights or 'unknown'}; layer map {record.get('layer_map', 'uniform')}",
        f"- Initialisation: {json.dumps(record.get('student_init', {}), ensure_ascii=False)}",
    ]
    return "\n".join(parts)


def _speed_text(speed: dict | None) -> str:
    if not speed:
        return "CPU speed was not measured for this model; see `benchmarks/size_speed.py`."
    return "\n".join(f"- {key}: {value}" for key, value in speed.items())


# Which transformers releases load a saved folder, as scripts/compat_check.py measured them (absent from a wheel).
COMPAT_RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "compat.json"


def _tested_with_text() -> str:
    if not COMPAT_RESULTS.is_file():
        return "The transformers releases it loads with were not measured here; see `scripts/compat_check.py`."
    return json.loads(COMPAT_RESULTS.read_text(encoding="utf-8"))["tested_with"]


def _card_data(results: list[dict], model_name: str, pipeline_tag: str | None, teacher: str | None) -> ModelCardData:
    """The card's metadata block: language, license, tags, the Hub datasets scored on, base model, eval results."""
    # only the Hub datasets the scores were measured on (not the task's usual dataset when the data was local)
    datasets = sorted(
        {r["data_source"].removeprefix("hub:") for r in results if r.get("data_source", "").startswith("hub:")}
    )
    base_model = teacher if teacher and "/" in teacher and HUB_ID.match(teacher) and not is_local(teacher) else None
    return ModelCardData(
        language="ko",
        license=LICENSE,
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        tags=TAGS,
        datasets=datasets or None,
        base_model=base_model,
        model_name=model_name,
        eval_results=eval_results(results, model_name) or None,
    )


def _distillation_record(distillation: str | Path | dict | None, model_dir: Path) -> dict[str, Any] | None:
    """The distillation record for the card: given, or the folder's own distillation.json, or none."""
    if distillation is None and (model_dir / "distillation.json").is_file():
        distillation = model_dir / "distillation.json"
    if isinstance(distillation, dict):
        return distillation
    return _rebased_record(Path(distillation), model_dir) if distillation is not None else None


def _matrix_ranks_by_group(config) -> dict[str, dict]:
    from training.rank_budget import RankPlan

    return RankPlan(dict(getattr(config, "matrix_ranks", None) or {})).summary()


def _group_rank_text(config, group: str) -> str:
    """A group's rank: its one rank, or (per-matrix ranks from a budget) the range and median over its matrices."""
    summary = _matrix_ranks_by_group(config).get(group)
    if summary is None:
        return str(getattr(config, f"{group}_rank") or "dense")
    dense = f", {summary['dense']} dense" if summary["dense"] else ""
    return f"per matrix: {summary['min']}-{summary['max']} (median {summary['median']}{dense})"


def _matrix_order(key: str, order: list[str]) -> tuple[int, int]:
    layer, matrix = key.split(".", 1)
    return int(layer), order.index(matrix)


def _rank_budget_text(config) -> str:
    """The budget the ranks were chosen for (convert --target_mb / --target_ms), what it reached, and the ranks."""
    budget = getattr(config, "rank_budget", None)
    if not budget:
        return ""
    from training.lowrank import budget_line

    ranks = dict(getattr(config, "matrix_ranks", None) or {})
    by_layer: dict[str, list[str]] = {}
    order = list(LAYER_MATRICES)
    for key, rank in sorted(ranks.items(), key=lambda item: _matrix_order(item[0], order)):
        layer, matrix = key.split(".", 1)
        by_layer.setdefault(layer, []).append(f"{matrix} {rank or 'dense'}")
    rows = "\n".join(f"| {layer} | {', '.join(cells)} |" for layer, cells in by_layer.items())
    return (
        "\n\nThe ranks were chosen per matrix for a budget by `kr-electra-kd convert` (the most spectral energy the "
        f"budget holds). {budget_line(budget)}. The size above is this repository's file, head included.\n\n"
        f"| layer | rank per matrix |\n|---|---|\n{rows}"
    )


def write_model_card(
    model_dir: str | Path,
    results: list[str | Path | dict] | None = None,
    teacher_results: list[str | Path | dict] | None = None,
    teacher: str | None = None,
    speed: dict | None = None,
    distillation: str | Path | dict | None = None,
    repo_id: str | None = None,
) -> ModelCard:
    """Write `model_dir/README.md` and return the card. Every number comes from the files given."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"{model_dir} has no config.json: pass a folder written by save_pretrained.")
    claim_output_folder(model_dir, "--model")  # one run per folder (in a command run)
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    results, teacher_results = load_results(results), load_results(teacher_results)
    _check_results_match(results, config, model_dir)
    record = _distillation_record(distillation, model_dir)
    # A local teacher is named relative to this folder (never by this machine's path); only a Hub id is base_model.
    teacher = portable_path(teacher, model_dir) if teacher else (record or {}).get("teacher")

    architecture = (getattr(config, "architectures", None) or ["Model"])[0]
    head = head_of_architecture(architecture)
    pipeline_tag = head.pipeline_tag
    model_name = repo_id.split("/")[-1] if repo_id else model_dir.name

    data = _card_data(results, model_name, pipeline_tag, teacher)
    size = _size_mb(model_dir)
    parameters = _parameters(model_dir)
    repo = repo_id or "ORG/NAME"
    card = ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        model_name=model_name,
        repo=repo,
        layers=config.num_hidden_layers,
        hidden=config.hidden_size,
        intermediate=config.intermediate_size,
        embedding=config.embedding_size,
        embedding_rank=config.embedding_rank or "dense",
        attention_rank=_group_rank_text(config, "attention"),
        ffn_rank=_group_rank_text(config, "ffn"),
        rank_budget=_rank_budget_text(config),
        parameters=f"{parameters:,}" if parameters else "unknown",
        size=f"{size:.1f} MB" if size else "unknown",
        architecture=architecture,
        distillation=_distillation_text(record, teacher),
        results_table=_results_table(results, teacher_results),
        baselines=_baselines_text(results),
        speed=_speed_text(speed) + browser_card_text(model_dir),  # training/web_server.py: browser.json
        tested_with=_tested_with_text(),
        auto_class=head.auto_class,
        pipeline_tag=pipeline_tag,
    )
    with atomic_file(model_dir / "README.md") as staged:  # never a half-written card under the final name
        card.save(staged)
    return card
