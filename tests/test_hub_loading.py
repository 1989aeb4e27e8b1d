"""Hub-native loading: a saved folder works with trust_remote_code in a fresh process where this package is NOT
importable (other working directory, clean PYTHONPATH, an import blocker), offline, for every head and pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, pipeline

import modeling_kr_electra_kd
from modeling_kr_electra_kd import (
    AUTO_MAP,
    CODE_FILES,
    PIPELINE_FILE,
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    KRElectraKDForQuestionAnswering,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDModel,
)

HEADS = {
    "AutoModel": KRElectraKDModel,
    "AutoModelForPreTraining": KRElectraKDForPreTraining,
    "AutoModelForMaskedLM": KRElectraKDForMaskedLM,
    "AutoModelForSequenceClassification": KRElectraKDForSequenceClassification,
    "AutoModelForTokenClassification": KRElectraKDForTokenClassification,
    "AutoModelForQuestionAnswering": KRElectraKDForQuestionAnswering,
}
SENTIMENT_LABELS = {0: "부정", 1: "긍정"}
NER_LABELS = {0: "O", 1: "PER-B", 2: "PER-I", 3: "LOC-B", 4: "LOC-I"}
REVIEW = "이 영화 정말 재미있었어요"
# Folders saved by the code before the modeling refactor (see its README): name -> Auto class.
PRE_REFACTOR = Path(__file__).resolve().parent / "fixtures" / "pre_refactor_checkpoint"
PRE_REFACTOR_HEADS = {
    "sequence_classification": "AutoModelForSequenceClassification",
    "pretraining": "AutoModelForPreTraining",
}
QUESTION, CONTEXT = "기차로 얼마나 걸리나요?", "서울에서 부산까지 기차로 세 시간 정도 걸립니다."

# Runs in the fresh process. Blocks this package's modules so only the folder's copied code can serve.
CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_kr_electra_kd", "training"):
                raise ImportError(f"{name} must not be importable here")
            return None

    sys.meta_path.insert(0, Blocker())
    import torch, transformers
    from safetensors.torch import load_file
    from transformers import pipeline

    root, checkpoint = sys.argv[1], sys.argv[2]
    expected = load_file(f"{root}/expected.safetensors")
    report = {"heads": {}}
    for auto_name in %(heads)r:
        folder = f"{root}/{auto_name}"
        model = getattr(transformers, auto_name).from_pretrained(folder, trust_remote_code=True).eval()
        with torch.no_grad():
            outputs = model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"])
        first = outputs[next(iter(outputs.keys()))]
        report["heads"][auto_name] = {
            "module": type(model).__module__,
            "max_abs_diff": (first - expected[auto_name]).abs().max().item(),
        }

    # A model loaded with remote code and saved again must still carry its code files and plain auto_map.
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        f"{root}/AutoModelForSequenceClassification", trust_remote_code=True
    )
    model.save_pretrained(f"{root}/resaved")
    again = transformers.AutoModelForSequenceClassification.from_pretrained(f"{root}/resaved", trust_remote_code=True)
    with torch.no_grad():
        diff = (again(input_ids=expected["input_ids"]).logits - model(input_ids=expected["input_ids"]).logits).abs().max()
    report["resaved_diff"] = diff.item()

    # Weights and config saved before the modeling refactor, with today's code files beside them.
    old = json.load(open(f"{root}/pre_refactor/expected.json"))
    old_inputs = {key: torch.tensor(old[key]) for key in ("input_ids", "attention_mask", "token_type_ids")}
    report["pre_refactor"] = {}
    for name, auto_name in %(pre_refactor)r.items():
        model = getattr(transformers, auto_name).from_pretrained(f"{root}/pre_refactor/{name}", trust_remote_code=True)
        with torch.no_grad():
            logits = model.eval()(**old_inputs).logits
        diff = (logits - torch.tensor(old["logits"][name])).abs().max().item()
        report["pre_refactor"][name] = {"module": type(model).__module__, "max_abs_diff": diff}

    # A Trainer checkpoint folder is itself a loadable model.
    ckpt = transformers.AutoModelForSequenceClassification.from_pretrained(checkpoint, trust_remote_code=True)
    report["checkpoint_module"] = type(ckpt).__module__

    report["pipelines"] = {
        "text-classification": pipeline(
            "text-classification", model=f"{root}/AutoModelForSequenceClassification", trust_remote_code=True
        )(%(review)r),
        "token-classification": pipeline(
            "token-classification", model=f"{root}/AutoModelForTokenClassification", trust_remote_code=True
        )(%(review)r),
        "question-answering": pipeline(
            "question-answering", model=f"{root}/AutoModelForQuestionAnswering", trust_remote_code=True
        )(question=%(question)r, context=%(context)r),
    }
    print("REPORT" + json.dumps(report, ensure_ascii=False, default=float))
    """
) % {
    "heads": list(HEADS),
    "review": REVIEW,
    "question": QUESTION,
    "context": CONTEXT,
    "pre_refactor": PRE_REFACTOR_HEADS,
}


def _config(tokenizer, **overrides) -> KRElectraKDConfig:
    # Low-rank everywhere, so the factorized layers are what the copied code must rebuild.
    return KRElectraKDConfig.from_preset(
        "tiny", vocab_size=len(tokenizer), embedding_rank=16, attention_rank=16, ffn_rank=32, **overrides
    )


def _pipeline_outputs(root: Path) -> dict:
    return {
        "text-classification": pipeline("text-classification", model=str(root / "AutoModelForSequenceClassification"))(
            REVIEW
        ),
        "token-classification": pipeline("token-classification", model=str(root / "AutoModelForTokenClassification"))(
            REVIEW
        ),
        # transformers 5 has no extractive QA pipeline of its own: the saved folder's code provides it.
        "question-answering": pipeline(
            "question-answering", model=str(root / "AutoModelForQuestionAnswering"), trust_remote_code=True
        )(question=QUESTION, context=CONTEXT),
    }


def _with_todays_code(folder: Path) -> Path:
    """Copy a pre-refactor folder under `folder`, its code files replaced by this package's (what re-publishing
    the code does to a Hub repo), so old weights and config meet today's code."""
    package_dir = Path(modeling_kr_electra_kd.__file__).parent
    shutil.copytree(PRE_REFACTOR, folder)
    for code_file in folder.glob("*/*.py"):
        shutil.copyfile(package_dir / code_file.name, code_file)
    return folder


def _trainer_checkpoint(root: Path, tokenizer, korean_texts) -> Path:
    """Train 4 steps saving every 2, then resume from the first checkpoint; return that checkpoint."""
    from datasets import Dataset

    dataset = Dataset.from_dict({"text": korean_texts[:16], "label": [i % 2 for i in range(16)]})
    dataset = dataset.map(lambda b: tokenizer(b["text"], truncation=True, max_length=32), batched=True).remove_columns(
        "text"
    )

    def trainer() -> Trainer:
        torch.manual_seed(0)
        model = KRElectraKDForSequenceClassification(_config(tokenizer, id2label=SENTIMENT_LABELS))
        args = TrainingArguments(
            output_dir=str(root / "trainer"),
            max_steps=4,
            save_steps=2,
            per_device_train_batch_size=4,
            report_to=[],
            disable_tqdm=True,
        )
        return Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer))

    trainer().train()
    checkpoint = root / "trainer" / "checkpoint-2"
    resumed = trainer()
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 4
    return checkpoint


@pytest.fixture(scope="module")
def saved_heads(tmp_path_factory, tiny_tokenizer):
    root = tmp_path_factory.mktemp("hub")
    encoded = tiny_tokenizer([REVIEW, CONTEXT], padding=True, return_tensors="pt")
    expected = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    for auto_name, model_class in HEADS.items():
        torch.manual_seed(0)
        labels = {"AutoModelForSequenceClassification": SENTIMENT_LABELS, "AutoModelForTokenClassification": NER_LABELS}
        model = model_class(_config(tiny_tokenizer, id2label=labels.get(auto_name, {0: "A", 1: "B"}))).eval()
        model.save_pretrained(root / auto_name)
        tiny_tokenizer.save_pretrained(root / auto_name)
        with torch.no_grad():
            outputs = model(**expected)
        expected[auto_name] = outputs[next(iter(outputs.keys()))].contiguous()
    save_file(expected, str(root / "expected.safetensors"))
    return root


def test_saved_folder_has_code_and_plain_auto_map(saved_heads):
    """Every folder names every head in auto_map and carries the config and model code; only the question-answering
    folder carries (and names in custom_pipelines) the pipeline, which the model code does not import."""
    for auto_name in HEADS:
        folder = saved_heads / auto_name
        config = json.loads((folder / "config.json").read_text())
        assert config["model_type"] == "kr-electra-kd"
        assert config["auto_map"] == AUTO_MAP
        question_answering = auto_name == "AutoModelForQuestionAnswering"
        code_files = CODE_FILES if question_answering else tuple(set(CODE_FILES) - {PIPELINE_FILE})
        for file_name in (*code_files, "model.safetensors", "tokenizer.json"):
            assert (folder / file_name).is_file(), file_name
        assert sorted(path.name for path in folder.glob("*.py")) == sorted(code_files)
        assert ("custom_pipelines" in config) == question_answering
        code = (folder / "modeling_kr_electra_kd.py").read_text()
        assert "from .configuration_kr_electra_kd import" in code
        assert "pipeline_kr_electra_kd import" not in code
        assert "import training" not in code and "from training" not in code


def test_repo_references_in_auto_map_are_replaced_on_save(tmp_path, tiny_tokenizer):
    KRElectraKDForSequenceClassification(_config(tiny_tokenizer)).save_pretrained(tmp_path / "hub")
    # what transformers makes of a Hub repo's config: auto_map entries prefixed with the repo
    config_file = tmp_path / "hub" / "config.json"
    config = json.loads(config_file.read_text())
    config["auto_map"] = {key: f"someorg/somerepo--{value}" for key, value in AUTO_MAP.items()}
    config_file.write_text(json.dumps(config))
    model = KRElectraKDForSequenceClassification.from_pretrained(tmp_path / "hub")
    model.save_pretrained(tmp_path / "resaved")
    assert json.loads((tmp_path / "resaved" / "config.json").read_text())["auto_map"] == AUTO_MAP
    assert (tmp_path / "resaved" / "modeling_kr_electra_kd.py").is_file()


@pytest.mark.slow
def test_fresh_process_without_the_package_loads_every_head_and_pipeline(
    saved_heads, tiny_tokenizer, korean_texts, tmp_path
):
    checkpoint = _trainer_checkpoint(saved_heads, tiny_tokenizer, korean_texts)
    _with_todays_code(saved_heads / "pre_refactor")
    for file_name in ("configuration_kr_electra_kd.py", "modeling_kr_electra_kd.py", "model.safetensors"):
        assert (checkpoint / file_name).is_file(), file_name

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), TOKENIZERS_PARALLELISM="false")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(saved_heads), str(checkpoint)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.split("REPORT", 1)[1])

    for auto_name, head in report["heads"].items():
        assert head["module"].startswith("transformers_modules."), head  # the folder's copy of the code
        assert head["max_abs_diff"] < 1e-5, (auto_name, head)
    assert report["resaved_diff"] == 0.0
    assert (saved_heads / "resaved" / "modeling_kr_electra_kd.py").is_file()
    assert json.loads((saved_heads / "resaved" / "config.json").read_text())["auto_map"] == AUTO_MAP
    assert report["checkpoint_module"].startswith("transformers_modules.")
    assert set(report["pre_refactor"]) == set(PRE_REFACTOR_HEADS)
    for name, loaded in report["pre_refactor"].items():
        assert loaded["module"].startswith("transformers_modules."), (name, loaded)
        assert loaded["max_abs_diff"] < 1e-5, (name, loaded)

    in_process = _pipeline_outputs(saved_heads)
    child = report["pipelines"]
    assert child["text-classification"][0]["label"] in SENTIMENT_LABELS.values()
    assert child["text-classification"][0]["label"] == in_process["text-classification"][0]["label"]
    assert child["text-classification"][0]["score"] == pytest.approx(
        in_process["text-classification"][0]["score"], abs=1e-5
    )
    assert [e["entity"] for e in child["token-classification"]] == [
        e["entity"] for e in in_process["token-classification"]
    ]
    assert child["question-answering"]["answer"] == in_process["question-answering"]["answer"]
    assert child["question-answering"]["answer"] in CONTEXT


@pytest.mark.parametrize("name", sorted(PRE_REFACTOR_HEADS))
def test_checkpoint_saved_before_the_refactor_loads_with_todays_code(name, tmp_path):
    """Same weight names (nothing missing, nothing unexpected) and the same logits, through the package's class and
    through the Auto class with `trust_remote_code` (the fresh-process test above loads them without the package)."""
    import transformers

    expected = json.loads((PRE_REFACTOR / "expected.json").read_text())
    inputs = {key: torch.tensor(expected[key]) for key in ("input_ids", "attention_mask", "token_type_ids")}
    auto_class = getattr(transformers, PRE_REFACTOR_HEADS[name])
    folder = _with_todays_code(tmp_path / "pre_refactor") / name
    assert "layer_norm_position" not in json.loads((folder / "config.json").read_text())
    head = HEADS[PRE_REFACTOR_HEADS[name]]
    for load in (
        head.from_pretrained,
        lambda path, **kw: auto_class.from_pretrained(path, trust_remote_code=True, **kw),
    ):
        model, loading = load(folder, output_loading_info=True)
        assert isinstance(model, head)
        assert model.config.layer_norm_position == "post"  # the field is newer than the folder
        assert not loading["missing_keys"] and not loading["unexpected_keys"], loading
        with torch.no_grad():
            logits = model.eval()(**inputs).logits
        assert torch.allclose(logits, torch.tensor(expected["logits"][name]), atol=1e-5, rtol=0)
