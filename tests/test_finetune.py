"""`kr-electra-kd finetune` and `evaluate`: every task end to end on the fixtures, bad input, resume, pipeline(),
and a real NSMC run that must beat the majority class."""

from __future__ import annotations

import csv
import gzip
import inspect
import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import build_tiny_tokenizer
from test_tasks import fixture_texts, folder_of, official_korquad_evaluate
from transformers import pipeline

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining
from training.commands import evaluate as evaluate_command
from training.commands import finetune as finetune_command
from training.provenance import find_local_paths
from training.tasks import TASKS, get_task, load_task_data

RESULT_KEYS = {
    "task",
    "primary_metric",
    "metrics",
    "model",
    "model_name_or_path",
    "data_source",
    "data_dir",
    "splits",
    "num_train_samples",
    "num_eval_samples",
    "num_bad_rows_skipped",
    "truncation",
    "seconds",
    "seed",
    "transformers_version",
    "created",
}
QUIET = ["--disable-tqdm", "true", "--logging-steps", "1000"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def save_tiny_model(folder: Path, tokenizer, **overrides) -> Path:
    """A freshly initialised tiny discriminator (what distillation hands to fine-tuning) with its tokenizer."""
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=overrides.pop("vocab_size", len(tokenizer)), **overrides)
    KRElectraKDForPreTraining(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, fixtures_dir, korean_texts) -> Path:
    tokenizer = build_tiny_tokenizer(fixture_texts(fixtures_dir, korean_texts), vocab_size=4000)
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"), tokenizer)


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, tiny_model, fixtures_dir):
    """Fine-tune (2 steps) on a task's fixtures once per module; returns the output folder."""
    done: dict[str, Path] = {}

    def run(task_name: str) -> Path:
        if task_name not in done:
            output = tmp_path_factory.mktemp(f"ft-{task_name}")
            argv = ["--model", str(tiny_model), "--task", task_name, "--data-dir"]
            argv += [str(fixtures_dir / "tasks" / folder_of(task_name)), "--output-dir", str(output)]
            argv += ["--max-steps", "2", "--per-device-train-batch-size", "4", *QUIET]
            assert finetune_command.main(argv) == 0
            done[task_name] = output
        return done[task_name]

    return run


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("task_name", list(TASKS))
def test_every_task_finetunes_and_evaluates(task_name, finetuned, fixtures_dir):
    task = get_task(task_name)
    output = finetuned(task_name)
    results = read_json(output / "results.json")
    assert set(results) == RESULT_KEYS
    assert results["task"] == task_name and results["primary_metric"] == task.primary_metric
    assert set(results["metrics"]) == set(task.metric_names)
    assert results["num_train_samples"] > 0 and results["num_eval_samples"] > 0
    assert results["data_source"].startswith("local:") and results["num_bad_rows_skipped"] == 0
    # A clean, Hub-ready folder: safetensors weights, no pickles, no leftover checkpoints.
    assert (output / "model.safetensors").is_file() and (output / "tokenizer.json").is_file()
    assert not list(output.glob("*.bin")) and not list(output.glob("*.pt")) and not list(output.glob("checkpoint-*"))
    # what upload.py publishes names no path of this machine, and a tokenizer class transformers 4.x has
    for name in ("results.json", "training_args.json"):
        assert not list(find_local_paths(read_json(output / name), output)), name
    assert read_json(output / "training_args.json")["output_dir"] == "."
    assert read_json(output / "tokenizer_config.json")["tokenizer_class"] == "PreTrainedTokenizerFast"
    config = read_json(output / "config.json")
    if task.kind != "question-answering":
        assert config["id2label"] == {str(i): name for i, name in enumerate(task.label_names)}

    # evaluate reads the task from the model's config and scores the same eval split the same way
    eval_file = output / "eval.json"
    data_dir = str(fixtures_dir / "tasks" / folder_of(task_name))
    assert evaluate_command.main(["--model", str(output), "--data-dir", data_dir, "--output-file", str(eval_file)]) == 0
    evaluation = read_json(eval_file)
    assert set(evaluation) == RESULT_KEYS and evaluation["num_eval_samples"] == results["num_eval_samples"]
    for name, value in results["metrics"].items():
        # the same rows, batched differently: float noise only (scores are on a 0-100 scale)
        assert evaluation["metrics"][name] == pytest.approx(value, abs=1e-2)


def _evaluate_saving_predictions(output: Path, task_name: str, fixtures_dir: Path, *extra: str) -> tuple[dict, Path]:
    results_file, predictions_file = output / f"eval{len(extra)}.json", output / f"predictions{len(extra)}"
    argv = ["--model", str(output), "--data-dir", str(fixtures_dir / "tasks" / folder_of(task_name))]
    argv += ["--output-file", str(results_file), "--save-predictions", str(predictions_file), *extra]
    assert evaluate_command.main(argv) == 0
    return read_json(results_file), predictions_file


def _official_style_scores(task_name: str, predictions_file: Path, fixtures_dir: Path) -> dict[str, float]:
    """Each task's metrics from the saved file alone (and the task's gold file), with the reference libraries."""
    task = get_task(task_name)
    if task.kind == "question-answering":
        # Without a train file, finetune trains on part of the dev file's articles and evaluate scores the rest
        # (results.json's `splits`): the official scorer reads the dev file restricted to the evaluated articles.
        predictions = read_json(predictions_file)
        dev = read_json(fixtures_dir / "tasks/korquad/KorQuAD_v1.0_dev.json")["data"]
        evaluated = [
            article
            for article in dev
            if any(qa["id"] in predictions for paragraph in article["paragraphs"] for qa in paragraph["qas"])
        ]
        return official_korquad_evaluate(evaluated, predictions)
    if task.kind == "token-classification":
        from seqeval.metrics import f1_score

        gold = {}
        for line in (fixtures_dir / "tasks/ner/test.tsv").read_text(encoding="utf-8").splitlines():
            sentence, tags = line.split("\t")
            gold[" ".join(sentence.split())] = tags.split()
        true_tags, predicted_tags = [], []
        for line in predictions_file.read_text(encoding="utf-8").splitlines():
            sentence, tags = line.split("\t")
            true_tags.append(gold[sentence])
            predicted_tags.append(tags.split())
            assert len(predicted_tags[-1]) == len(true_tags[-1])  # a tag for every word of the sentence
        return {"entity_f1": 100 * f1_score(true_tags, predicted_tags, suffix=True)}
    with predictions_file.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if task.kind == "regression":
        from scipy.stats import pearsonr, spearmanr

        labels, predicted = [float(row["label"]) for row in rows], [float(row["predicted"]) for row in rows]
        return {"pearson": 100 * pearsonr(predicted, labels)[0], "spearman": 100 * spearmanr(predicted, labels)[0]}
    from sklearn.metrics import accuracy_score, f1_score

    labels, predicted = [row["label"] for row in rows], [row["predicted"] for row in rows]
    assert set(predicted) <= set(task.label_names)  # names, not ids
    return {
        "accuracy": 100 * accuracy_score(labels, predicted),
        "macro_f1": 100 * f1_score(labels, predicted, average="macro", labels=list(task.label_names)),
    }


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["nsmc", "kornli", "korsts", "ner", "korquad"])
def test_saved_predictions_give_the_reported_scores_with_the_official_scorers(task_name, finetuned, fixtures_dir):
    results, predictions_file = _evaluate_saving_predictions(finetuned(task_name), task_name, fixtures_dir)
    official = _official_style_scores(task_name, predictions_file, fixtures_dir)
    for name, value in official.items():
        if name in results["metrics"]:
            assert results["metrics"][name] == round(value, 4), name
    assert set(official) & set(results["metrics"])
    assert results["truncation"]["of"] == results["num_eval_samples"]
    if task_name == "korquad":  # an answer for every evaluated question, so restricting the scorer hides none
        assert len(read_json(predictions_file)) == results["num_eval_samples"]


@pytest.mark.slow
def test_ner_is_scored_against_the_whole_gold_when_sentences_do_not_fit(finetuned, fixtures_dir):
    """At 8 tokens every fixture sentence is cut: each word still gets a tag, and the reported F1 is seqeval's on
    the whole gold of the sentences."""
    results, predictions_file = _evaluate_saving_predictions(
        finetuned("ner"), "ner", fixtures_dir, "--max-seq-length", "8"
    )
    count = results["num_eval_samples"]
    assert results["truncation"] == {"max_seq_length": 8, "truncated_examples": count, "of": count}
    official = _official_style_scores("ner", predictions_file, fixtures_dir)
    assert results["metrics"]["entity_f1"] == round(official["entity_f1"], 4)


@pytest.mark.slow
def test_question_answering_pipeline_windows_a_context_as_evaluate_does(finetuned, fixtures_dir):
    """One default for both: the pipeline's windows of a long context are evaluate's (doc_stride max_seq_len/4)."""
    from modeling_kr_electra_kd.pipeline_kr_electra_kd import KRElectraKDQuestionAnsweringPipeline
    from training.tasks import tokenize_dataset

    task = get_task("korquad")
    preprocess = inspect.signature(KRElectraKDQuestionAnsweringPipeline.preprocess).parameters
    assert preprocess["max_seq_len"].default == task.default_max_seq_length
    assert evaluate_command.DataArguments().doc_stride is None  # evaluate's default: the pipeline's rule
    answer = pipeline("question-answering", model=str(finetuned("korquad")), trust_remote_code=True)
    example = load_task_data(task, fixtures_dir / "tasks/korquad")["eval"].select([0])
    windows = answer.preprocess(example[0], max_seq_len=48)["model_inputs"]["input_ids"].tolist()
    features = tokenize_dataset(task, example, answer.tokenizer, 48, training=False)
    pad = answer.tokenizer.pad_token_id
    assert len(windows) > 1
    assert [[i for i in ids if i != pad] for ids in windows] == [
        [i for i in ids if i != pad] for ids in features["input_ids"]
    ]


@pytest.mark.slow
def test_finetuned_folders_load_with_pipeline(finetuned):
    classify = pipeline("text-classification", model=str(finetuned("nsmc")), trust_remote_code=True)
    assert classify("정말 재미있는 영화였어요")[0]["label"] in {"negative", "positive"}
    tag = pipeline("token-classification", model=str(finetuned("ner")), trust_remote_code=True)
    assert {entity["entity"] for entity in tag("김철수 는 서울 에서 태어났다 .")} <= set(get_task("ner").label_names)
    answer = pipeline("question-answering", model=str(finetuned("korquad")), trust_remote_code=True)
    context = "한글은 1443년 조선의 세종대왕이 창제하였다."
    assert answer(question="한글을 만든 왕은?", context=context)["answer"] in context


# --------------------------------------------------------------------------------------------------------------------
# Bad input: a one-line error and exit code 2, before any training
# --------------------------------------------------------------------------------------------------------------------


def finetune_error(capsys, argv: list[str]) -> str:
    assert finetune_command.main(argv + QUIET) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1  # one line (the model-loading report may precede it)
    return errors[0]


def test_unknown_task_and_missing_data(capsys, tiny_model, tmp_path):
    output = tmp_path / "out"
    message = finetune_error(capsys, ["--model", str(tiny_model), "--task", "sentiment", "--output-dir", str(output)])
    assert "'sentiment'" in message and all(name in message for name in TASKS)
    message = finetune_error(
        capsys,
        ["--model", str(tiny_model), "--task", "nsmc", "--data-dir", str(tmp_path / "nope"), "--output-dir", "x"],
    )
    assert str(tmp_path / "nope") in message and "TSV with header `id document label`" in message
    assert not output.exists()


@pytest.mark.slow
def test_bad_rows_fail_or_are_skipped_and_counted(capsys, tiny_model, tmp_path, fixtures_dir):
    folder = tmp_path / "qpair"
    folder.mkdir()
    lines = (fixtures_dir / "tasks/qpair/train.tsv").read_text(encoding="utf-8").splitlines()
    (folder / "train.tsv").write_text("\n".join(lines[:4] + ["질문만 하나\t0"] + lines[4:]) + "\n", encoding="utf-8")
    (folder / "test.tsv").write_text((fixtures_dir / "tasks/qpair/test.tsv").read_text(encoding="utf-8"))
    output = tmp_path / "out"
    argv = ["--model", str(tiny_model), "--task", "qpair", "--data-dir", str(folder), "--output-dir", str(output)]
    message = finetune_error(capsys, argv)
    assert f"{folder / 'train.tsv'}, line 5: 2 tab-separated fields, expected 3" in message
    assert not output.exists()

    assert finetune_command.main(argv + ["--on-bad-rows", "skip", "--max-steps", "1", *QUIET]) == 0
    out = capsys.readouterr().out
    assert "Skipped 1 malformed row(s)" in out and "line 5: 2 tab-separated fields" in out
    assert "on_bad_rows skip" not in out and "on-bad-rows skip" not in out  # skipping is what was asked
    results = read_json(output / "results.json")
    assert results["num_bad_rows_skipped"] == 1 and results["num_train_samples"] == len(lines) - 1


def test_inputs_that_cannot_train_are_caught_first(capsys, tiny_model, tmp_path, fixtures_dir, korean_texts):
    nsmc = str(fixtures_dir / "tasks/nsmc")
    base = ["--task", "nsmc", "--data-dir", nsmc, "--output-dir", str(tmp_path / "out")]
    # a tokenizer with more tokens than the model's embeddings
    small = save_tiny_model(tmp_path / "small", build_tiny_tokenizer(korean_texts), vocab_size=50)
    message = finetune_error(capsys, ["--model", str(small), "--tokenizer", str(tiny_model), *base])
    assert "50" in message and "tokenizer" in message
    # longer inputs than the model's position embeddings
    message = finetune_error(capsys, ["--model", str(tiny_model), "--max-seq-length", "512", *base])
    assert "--max_seq_length 512 exceeds the model's max_position_embeddings (128)" in message
    # a training slice with one class only
    one_class = tmp_path / "one-class"
    one_class.mkdir()
    (one_class / "ratings_train.txt").write_text("id\tdocument\tlabel\n1\t좋다\t1\n2\t최고\t1\n", encoding="utf-8")
    (one_class / "ratings_test.txt").write_text("id\tdocument\tlabel\n3\t별로\t0\n", encoding="utf-8")
    message = finetune_error(capsys, ["--model", str(tiny_model), "--task", "nsmc", "--data-dir", str(one_class)])
    assert "only label(s) ['positive']" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_evaluate_rejects_a_model_of_another_task(capsys, finetuned, tiny_model, fixtures_dir):
    argv = ["--model", str(finetuned("nsmc")), "--task", "kornli", "--data-dir", str(fixtures_dir / "tasks/kornli")]
    assert evaluate_command.main(argv) == 2
    assert "was fine-tuned on nsmc, not kornli; evaluate it with --task nsmc" in capsys.readouterr().err
    # a pre-trained model has no task head yet: scoring its random head would mean nothing
    assert evaluate_command.main(["--model", str(tiny_model), *argv[2:]]) == 2
    assert "has no sequence-classification head (it is a pretraining model)" in capsys.readouterr().err


@pytest.mark.slow
def test_finetuning_a_model_of_another_task_with_other_labels_is_refused(capsys, finetuned, fixtures_dir):
    argv = ["--model", str(finetuned("nsmc")), "--task", "kornli", "--data-dir", str(fixtures_dir / "tasks/kornli")]
    message = finetune_error(capsys, argv)
    assert "fine-tuned on nsmc (2 outputs); task kornli needs 3" in message


@pytest.mark.slow
def test_interrupted_run_resumes_from_its_checkpoint(capsys, tiny_model, tmp_path, fixtures_dir):
    output = tmp_path / "out"
    argv = ["--model", str(tiny_model), "--task", "paws", "--data-dir", str(fixtures_dir / "tasks/paws")]
    argv += ["--output-dir", str(output), "--per-device-train-batch-size", "2", "--save-strategy", "steps"]
    argv += ["--save-steps", "2", "--keep-checkpoints", "true", *QUIET]
    assert finetune_command.main([*argv, "--max-steps", "2"]) == 0
    assert (output / "checkpoint-2").is_dir()
    for name in ("results.json", "model.safetensors", "config.json"):  # as if interrupted before the end
        (output / name).unlink()
    capsys.readouterr()
    assert finetune_command.main([*argv, "--max-steps", "4"]) == 0
    assert f"Resuming from {output / 'checkpoint-2'}" in capsys.readouterr().out
    state = read_json(output / "checkpoint-4" / "trainer_state.json")
    assert state["global_step"] == 4


@pytest.mark.slow
def test_ctrl_c_prints_one_line_and_the_rerun_resumes_to_the_same_weights(capsys, monkeypatch, tiny_model, tmp_path):
    """Ctrl-C at step 3 (a KeyboardInterrupt from a callback): one line naming the step and checkpoint-2, exit code
    130; the same command again resumes and ends with exactly the weights of an uninterrupted run."""
    from safetensors.torch import load_file
    from transformers.trainer_callback import DefaultFlowCallback

    from training import cli

    fixtures = Path(__file__).parent / "fixtures"

    def argv(output: Path) -> list[str]:
        arguments = ["finetune", "--model", str(tiny_model), "--task", "paws", "--data-dir"]
        arguments += [str(fixtures / "tasks/paws"), "--output-dir", str(output), "--per-device-train-batch-size", "2"]
        return [*arguments, "--save-strategy", "steps", "--save-steps", "2", "--max-steps", "5", *QUIET]

    assert cli.main(argv(tmp_path / "uninterrupted")) == 0
    on_step_end = DefaultFlowCallback.on_step_end

    def interrupt_at_step_3(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise KeyboardInterrupt
        return on_step_end(self, args, state, control, **kwargs)

    output = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        patch.setattr(DefaultFlowCallback, "on_step_end", interrupt_at_step_3)
        capsys.readouterr()
        assert cli.main(argv(output)) == cli.INTERRUPTED_EXIT_CODE
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"stopped at step 3; last checkpoint: {output / 'checkpoint-2'} (run the same command again to resume from it)."
    )
    assert cli.main(argv(output)) == 0
    assert f"Resuming from {output / 'checkpoint-2'}" in capsys.readouterr().out
    expected, resumed = load_file(tmp_path / "uninterrupted/model.safetensors"), load_file(output / "model.safetensors")
    assert max((resumed[name] - value).abs().max().item() for name, value in expected.items()) == 0.0


@pytest.mark.slow
def test_ctrl_c_before_the_first_checkpoint_says_there_is_none(capsys, monkeypatch, tiny_model, tmp_path):
    from transformers.trainer_callback import DefaultFlowCallback

    from training import cli

    def interrupt(self, args, state, control, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(DefaultFlowCallback, "on_step_end", interrupt)
    fixtures = Path(__file__).parent / "fixtures"
    argv = ["finetune", "--model", str(tiny_model), "--task", "paws", "--data-dir", str(fixtures / "tasks/paws")]
    assert cli.main([*argv, "--output-dir", str(tmp_path / "out"), "--max-steps", "3", *QUIET]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "stopped at step 1; no checkpoint yet (running the same command again starts from step 0)."
    )


@pytest.mark.slow
def test_baselines_option_adds_the_tasks_baselines_to_the_results(tiny_model, tmp_path, fixtures_dir):
    output = tmp_path / "out"
    argv = ["--model", str(tiny_model), "--task", "nsmc", "--data-dir", str(fixtures_dir / "tasks/nsmc")]
    argv += ["--output-dir", str(output), "--max-steps", "1", "--baselines", "true", *QUIET]
    assert finetune_command.main(argv) == 0
    baselines = read_json(output / "results.json")["baselines"]
    # The NSMC fixture's 8 test reviews: 5 positive, training majority negative (37.5), so guessing's 50 is trivial.
    assert (
        baselines["trivial"]["metrics"] == {"accuracy": 50.0} and baselines["trivial"]["method"] == "uniform guessing"
    )
    assert set(baselines["classical"]["metrics"]) == {"accuracy"}


# --------------------------------------------------------------------------------------------------------------------
# End to end on real data
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_model_beats_the_majority_class_on_real_nsmc(shared_data, tmp_path):
    """A tiny model fine-tuned on 4,000 real NSMC reviews must beat always answering the majority class."""
    nsmc = shared_data / "nsmc"
    with gzip.open(nsmc / "ratings_train.txt.gz", "rt", encoding="utf-8") as handle:
        reviews = [line.split("\t")[1] for _, line in zip(range(20001), handle)][1:]
    model = save_tiny_model(tmp_path / "tiny", build_tiny_tokenizer(reviews, vocab_size=1500))
    output = tmp_path / "nsmc"
    argv = ["--model", str(model), "--task", "nsmc", "--data-dir", str(nsmc), "--output-dir", str(output)]
    argv += ["--max-train-samples", "4000", "--max-eval-samples", "2000", "--num-train-epochs", "2"]
    argv += ["--learning-rate", "1e-3", "--per-device-train-batch-size", "32", "--seed", "42", *QUIET]
    assert finetune_command.main(argv) == 0
    results = read_json(output / "results.json")

    assert results["num_eval_samples"] == 2000
    # the same seeded slice the command scored (seed 42)
    eval_labels = load_task_data("nsmc", nsmc, max_eval_samples=2000, seed=42, eval_only=True)["eval"]["label"]
    majority = 100.0 * Counter(eval_labels).most_common(1)[0][1] / len(eval_labels)
    print(f"NSMC tiny model: accuracy {results['metrics']['accuracy']:.1f} vs majority class {majority:.1f}")
    assert results["metrics"]["accuracy"] > majority + 5


@pytest.mark.slow
def test_the_seed_alone_decides_the_new_head(tiny_model, tmp_path, fixtures_dir):
    """The pipeline runs every step in one process: the head a fine-tune adds must not depend on what ran before."""
    import torch
    from safetensors.torch import load_file

    weights = []
    for run in range(2):
        output = tmp_path / f"out{run}"
        argv = ["--model", str(tiny_model), "--task", "nsmc", "--data-dir", str(fixtures_dir / "tasks/nsmc")]
        argv += ["--output-dir", str(output), "--max-steps", "1", "--seed", "3", *QUIET]
        torch.rand(1000 * (run + 1))  # other work in the same process moves the global generator
        assert finetune_command.main(argv) == 0
        weights.append(load_file(output / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name
