"""What the benchmark scripts share: where things are, the command line a result records, one latency timer, the
CPU's name and padded random inputs, and the CPU-scale NSMC settings of the distillation benchmarks
(distillation_nsmc, ablation, learning_curve, baseline_table).

Every script runs from the repository root as `python -m benchmarks.NAME` and writes its results with
`benchmarks.report.save_results`.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from training.corpus import iter_corpus_lines
from training.recipe import run_step, scaled_preset
from training.task_baselines import primary_score, task_baselines
from training.timing import quartiles, random_inputs, time_blocks  # noqa: F401 (the benchmarks' timer lives in training)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
# The benchmarks' data, beside the repository: ../shared/data/nsmc (and the other tasks' folders),
# ../shared/data/corpus/nsmc_unselected_reviews.txt.gz. Results and the README name them by name (save_results).
DATA = REPO.parent / "shared" / "data"


def command_line(script: str, argv: list[str] | None) -> str:
    """The command a result records: `python -m benchmarks.SCRIPT` and its arguments (sys.argv's when None)."""
    return " ".join(["python -m benchmarks." + script, *(argv if argv is not None else sys.argv[1:])])


# The timer -------------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# The CPU-scale NSMC distillation benchmarks -----------------------------------------------------------------------

# baseline -> (label in the table, what it is)
BASELINES = {
    "trivial": ("trivial baseline", "the better of the training majority class and guessing"),
    "classical": ("TF-IDF + logistic regression", "char 1-4-gram TF-IDF + logistic regression, same labelled reviews"),
}
# Options of every training step the benchmarks run (keyword options of the library calls behind the commands).
QUIET = {"report_to": "none", "disable_tqdm": True, "logging_steps": 50}


def write_transfer_set(corpus: str, skip: int, count: int, path: Path) -> Path:
    """Corpus lines skip+1 .. skip+count (texts the teacher was not pre-trained on) as a plain text file."""
    if not path.is_file():
        lines = list(iter_corpus_lines([corpus], max_lines=skip + count))[skip:]
        if len(lines) < count:
            raise ValueError(f"{corpus} has only {skip + len(lines)} lines; the transfer set needs {skip + count}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """The CPU-scale settings every NSMC benchmark of a pre-trained teacher shares (data, tokenizer, task)."""
    parser.add_argument("--corpus", default=str(DATA / "corpus" / "nsmc_unselected_reviews.txt.gz"))
    parser.add_argument("--nsmc-dir", default=str(DATA / "nsmc"), help="NSMC folder (ratings_train/test.txt[.gz]).")
    parser.add_argument("--corpus-lines", type=int, default=60000, help="Corpus lines for tokenizer and pre-training.")
    parser.add_argument("--vocab-size", type=int, default=16000)
    parser.add_argument("--train-samples", type=int, default=4000, help="Labelled NSMC reviews for every model.")
    parser.add_argument("--task-epochs", type=float, default=3.0, help="F = epochs over the training slice.")
    parser.add_argument("--eval-samples", type=int, default=5000, help="NSMC test reviews scored (seeded subset).")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="Learning rate on the task.")
    parser.add_argument("--seq-length", type=int, default=64)


def require_model_folder(parser: argparse.ArgumentParser, option: str, folder: str | None, hint: str) -> None:
    """Stop at the command line, in one line, when `option`'s folder (if given) holds no config.json."""
    if folder is not None and not (Path(folder) / "config.json").is_file():
        parser.error(f"{option} {folder}: no config.json there; pass {hint}")


def teacher_preset() -> dict:
    """The CPU-scale teacher: teacher-base at a third of its width, 4 layers."""
    return scaled_preset("teacher-base", width=1 / 3, layers=4)


def task_step_count(args: argparse.Namespace) -> int:
    """F: --task-epochs over the training slice, in whole batches."""
    return -(-args.train_samples // args.batch_size) * round(args.task_epochs)


def pretraining_options(
    args: argparse.Namespace, seed: int, save_steps: int = 500, save_total_limit: int = 1, corpus_lines: int = -1
) -> dict:
    """Trainer and corpus options of a pre-training or task-agnostic distillation step (`run_pretraining`'s,
    `run_distillation`'s). `corpus_lines`: -1 for --corpus-lines, 0 for the whole corpus."""
    options = {"per_device_train_batch_size": args.batch_size, **QUIET, "save_steps": save_steps}
    options |= {"save_total_limit": save_total_limit, "seed": seed, "corpus": [args.corpus]}
    lines = args.corpus_lines if corpus_lines == -1 else corpus_lines
    if lines:
        options["max_corpus_lines"] = lines
    return options | {"max_seq_length": args.seq_length}


def task_options(args: argparse.Namespace) -> dict:
    """Options of a fine-tuning (or task distillation) step on the NSMC training slice, seed excluded."""
    options = {"per_device_train_batch_size": args.batch_size, **QUIET}
    options |= {"max_seq_length": args.seq_length, "learning_rate": args.learning_rate}
    options |= {"max_steps": task_step_count(args), "max_train_samples": args.train_samples}
    return options | {"task": "nsmc", "data_dir": args.nsmc_dir}


def train_tokenizer(args: argparse.Namespace, work: Path) -> Path:
    """The WordPiece tokenizer on the first --corpus-lines corpus lines (a finished one is reused)."""
    from training.tokenizer import train_tokenizer_from_corpus

    return run_step("tokenizer", work / "tokenizer", lambda: train_tokenizer_from_corpus(
        [args.corpus], work / "tokenizer", args.vocab_size, max_lines=args.corpus_lines))  # fmt: skip


def random_model(config_from: Path, output_dir: Path, tokenizer: Path, seed: int, vectors=None) -> Path:
    """`config_from`'s shape with fresh weights (seeded), saved like a teacher folder: the same-shape random-init
    control of a seed; with `vectors`, its word embeddings are those (the learning curve's embeddings-only point)."""
    import torch
    from transformers import AutoTokenizer

    from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining
    from training.embedding_init import initialise_word_embeddings
    from training.pretraining import save_teacher

    torch.manual_seed(seed)
    model = KRElectraKDForPreTraining(KRElectraKDConfig.from_pretrained(config_from))
    if vectors is not None:
        initialise_word_embeddings(model, vectors)
    return save_teacher(output_dir, model, AutoTokenizer.from_pretrained(tokenizer))


def embeddings_only_models(
    command_args, config_from: Path, tokenizer: Path, work: Path, seeds: list[int], prefix: str
) -> dict[int, Path]:
    """Per seed, `config_from`'s shape randomly initialised (seeded) with the token embeddings the command whose
    arguments are `command_args` starts from (its --embedding_init, computed once and cached in `work`), and no
    training step: what the starting embeddings alone bring, the control of a model that starts from them. Empty when
    it starts from random embeddings."""
    from safetensors.torch import load_file, save_file

    from modeling_kr_electra_kd import KRElectraKDConfig
    from training.embedding_init import starting_embeddings
    from training.loading import load_tokenizer

    if command_args.embedding_init == "random":
        return {}
    cached = work / "starting_embeddings.safetensors"
    if not cached.is_file():
        config = KRElectraKDConfig.from_pretrained(config_from)
        width = config.embedding_rank or config.embedding_size
        save_file({"vectors": starting_embeddings(command_args, load_tokenizer(tokenizer), width)}, str(cached))
    vectors = load_file(str(cached))["vectors"]
    models = {}
    for seed in seeds:
        model = work / f"{prefix}_embeddings_only_seed{seed}"
        if not (model / "tokenizer_config.json").is_file():  # written last
            random_model(config_from, model, tokenizer, seed, vectors)
        models[seed] = model
    return models


def option_value(text: str) -> bool | int | float | str:
    """An option's value given as text, as the library calls take it: true/false, an int, a float, or the text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def keyword_options(items: list[str] | None, flag: str) -> dict:
    """`KEY=VALUE` items (a repeatable `flag`) as keyword options, each value read by `option_value`; a ValueError
    naming the item and the fix for one that is not KEY=VALUE."""
    options: dict = {}
    for item in items or []:
        key, equals, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not equals or not key.isidentifier():
            raise ValueError(f"{flag} {item!r} is not KEY=VALUE: give e.g. {flag} learning_rate=1e-4.")
        options[key] = option_value(value.strip())
    return options


def summary(scores: list[float]) -> dict:
    return {
        "mean": round(statistics.mean(scores), 2),
        "stdev": round(statistics.stdev(scores), 2) if len(scores) > 1 else 0.0,
        "per_seed": scores,
    }


def paired_difference(values: list[float], control: list[float]) -> dict:
    """`values` minus `control`, seed by seed (mean ± sd, wins), and whether `values` is above the control beyond
    noise: the mean difference exceeds twice the larger standard deviation over seeds of the two (None with one seed:
    no estimate of noise)."""
    differences = [round(value - base, 2) for value, base in zip(values, control)]
    noise = max(summary(values)["stdev"], summary(control)["stdev"])
    beyond = len(values) > 1 and statistics.mean(differences) > 2 * noise
    return {**summary(differences), "wins": sum(value > 0 for value in differences), "noise_sd": noise,
            "above_control": beyond if len(values) > 1 else None}  # fmt: skip


def verdict(paired: dict) -> str:
    """A point's cell: above the control beyond noise, or not, or no estimate with one seed."""
    above = paired["above_control"]
    if above is None:
        return "one seed: no estimate"
    return f"**yes** (> 2 x {paired['noise_sd']:.2f})" if above else f"no (not > 2 x {paired['noise_sd']:.2f})"


def score_cells(score: dict) -> str:
    """A `summary` as two table cells: mean ± sd, and the score of every seed."""
    per_seed = " / ".join(f"{value:.2f}" for value in score["per_seed"])
    return f"{score['mean']:.2f} ± {score['stdev']:.2f} | {per_seed}"


def nsmc_baselines(nsmc_dir: str, train_samples: int, eval_samples: int, seeds: list[int]) -> dict:
    """Trivial and classical baselines on each seed's own training and test slices (the students' rows)."""
    per_seed = {str(seed): task_baselines("nsmc", nsmc_dir, train_samples, eval_samples, seed) for seed in seeds}
    return {
        "per_seed": per_seed,
        **{kind: summary([primary_score(record, kind) for record in per_seed.values()]) for kind in BASELINES},
    }


def classical_per_seed(result: dict) -> list[float]:
    """TF-IDF's score on each fine-tuning seed's slices of a result that kept `nsmc_baselines` per seed, in the order
    of its settings' seeds (what a paired gain over TF-IDF is read against)."""
    return [
        primary_score(result["baselines"]["per_seed"][str(seed)], "classical") for seed in result["settings"]["seeds"]
    ]


def comparison_main(
    argv: list[str] | None,
    description: str,
    command: str,
    names_help: str,
    default_name: str,
    load: Callable[[Path, str], dict],
    compare: Callable[[list[str], list[dict]], dict],
    markdown: Callable[[dict], str],
) -> int:
    """The command of a benchmark that reads several committed results by name (`load(results_dir, name)`) and writes
    one comparison of them (`compare(names, results)`); a ValueError from either (a missing result, results that
    cannot be compared) is one line naming it and the fix, not a traceback."""
    from benchmarks.report import save_results

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help=names_help)
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="Where the results' JSON files are.")
    parser.add_argument("--output-name", default=default_name, help="Name of the comparison's files.")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        result = compare(args.names, [load(args.results_dir, name) for name in args.names])
    except ValueError as error:
        parser.error(str(error))
    save_results({"command": command_line(command, argv), **result}, args.output_dir, args.output_name, markdown)
    return 0
