"""The morpheme-aware Korean tokenizer, its CLI and the tokenizer checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from modeling_kr_electra_kd import KRElectraKDConfig
from training.commands.train_tokenizer import main
from training.tokenizer import check_same_vocabulary, check_tokenizer_matches_config, train_tokenizer

REVIEW = "배우들의 연기가 훌륭했습니다!"


@pytest.fixture(scope="module")
def morpheme_tokenizer(korean_texts):
    return train_tokenizer(korean_texts * 3, vocab_size=900, show_progress=False)


def test_morpheme_aware_vocabulary_cuts_at_morphemes(morpheme_tokenizer, korean_texts):
    assert morpheme_tokenizer.tokenize(REVIEW) == [
        "배우",
        "##들",
        "##의",
        "연기",
        "##가",
        "훌륭",
        "##했",
        "##습니다",
        "!",
    ]
    plain = train_tokenizer(korean_texts * 3, vocab_size=900, morpheme_aware=False, show_progress=False)
    assert plain.get_vocab() != morpheme_tokenizer.get_vocab()
    # every character of the corpus is covered: no [UNK] on the training text
    unk = morpheme_tokenizer.unk_token_id
    assert all(unk not in morpheme_tokenizer(text)["input_ids"] for text in korean_texts)


@pytest.mark.slow
def test_same_corpus_same_vocabulary(korean_texts, morpheme_tokenizer, tmp_path):
    """In another process too, with another hash seed: no vocabulary order may come from set or dict hashing."""
    (tmp_path / "texts.json").write_text(json.dumps(korean_texts * 3, ensure_ascii=False), encoding="utf-8")
    script = (
        "import json, sys; from training.tokenizer import train_tokenizer; "
        "texts = json.loads(open(sys.argv[1], encoding='utf-8').read()); "
        "print(json.dumps(train_tokenizer(texts, vocab_size=900, show_progress=False).get_vocab()))"
    )
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"  # not this process's seed
    again = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "texts.json")],
        cwd=Path(__file__).resolve().parents[1],  # this checkout's `training`
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == morpheme_tokenizer.get_vocab()


def test_saved_tokenizer_loads_with_auto_tokenizer_and_no_custom_code(morpheme_tokenizer, tmp_path):
    morpheme_tokenizer.save_pretrained(tmp_path)
    assert not list(tmp_path.glob("*.py"))
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.tokenize(REVIEW) == morpheme_tokenizer.tokenize(REVIEW)
    pair = loaded("질문입니다", "문맥입니다")
    assert pair["token_type_ids"][-1] == 1 and pair["token_type_ids"][0] == 0
    assert loaded.convert_ids_to_tokens(pair["input_ids"])[0] == "[CLS]"
    assert loaded.pad_token_id == 0


@pytest.mark.slow
def test_cli_trains_and_reports_bad_corpus(tmp_path, fixtures_dir, capsys):
    corpus = fixtures_dir / "corpus.txt"
    assert main(["--corpus", str(corpus), "--output_dir", str(tmp_path / "tok"), "--vocab_size", "700"]) == 0
    assert 500 < len(AutoTokenizer.from_pretrained(tmp_path / "tok")) <= 700  # at most: rare pieces are left out
    assert main(["--corpus", str(tmp_path / "missing.txt"), "--output_dir", str(tmp_path / "x")]) == 2
    assert "Corpus file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_learns_from_a_parquet_dataset_what_it_learns_from_the_same_texts_in_a_file(tmp_path, fixtures_dir, capsys):
    from datasets import Dataset

    corpus = fixtures_dir / "corpus.txt"
    texts = [line.strip() for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    (tmp_path / "data").mkdir()
    Dataset.from_dict({"id": list(range(len(texts))), "text": texts}).to_parquet(tmp_path / "data" / "train.parquet")
    common = ["--vocab_size", "700", "--max_lines", "30"]
    assert main(["--corpus", str(corpus), "--output_dir", str(tmp_path / "from_file"), *common]) == 0
    assert main(["--dataset_name", str(tmp_path / "data"), "--output_dir", str(tmp_path / "from_data"), *common]) == 0
    from_file = AutoTokenizer.from_pretrained(tmp_path / "from_file").get_vocab()
    assert AutoTokenizer.from_pretrained(tmp_path / "from_data").get_vocab() == from_file
    capsys.readouterr()
    both = ["--corpus", str(corpus), "--dataset_name", str(tmp_path / "data"), "--output_dir", str(tmp_path / "x")]
    assert main(both) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: Give either --corpus (text files) or --dataset_name (a `datasets` dataset), not both."
    ]


def test_tokenizer_must_fit_the_model(tiny_tokenizer):
    check_tokenizer_matches_config(
        tiny_tokenizer, KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer))
    )
    with pytest.raises(ValueError, match=r"has \d+ tokens but the model's embeddings cover only 10"):
        check_tokenizer_matches_config(tiny_tokenizer, KRElectraKDConfig.from_preset("tiny", vocab_size=10))
    with pytest.raises(ValueError, match="pads with id 0 but the model's pad_token_id is 3"):
        check_tokenizer_matches_config(
            tiny_tokenizer, KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), pad_token_id=3)
        )


def test_teacher_and_student_vocabularies_must_match(tiny_tokenizer, morpheme_tokenizer):
    check_same_vocabulary(tiny_tokenizer, tiny_tokenizer)
    with pytest.raises(ValueError, match="Teacher and student tokenizers differ"):
        check_same_vocabulary(tiny_tokenizer, morpheme_tokenizer)


def test_cli_error_is_one_line_for_non_utf8_corpus(tmp_path, capsys):
    corpus = tmp_path / "euc_kr.txt"
    corpus.write_bytes("좋은 영화\n".encode("euc-kr"))
    assert main(["--corpus", str(corpus), "--output_dir", str(tmp_path / "tok")]) == 2
    # the progress bar may precede it on stderr; the error itself is one line
    error_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and "euc_kr.txt is not UTF-8 text" in error_lines[0] and "line 1" in error_lines[0]
    assert not (tmp_path / "tok").exists()


def test_saved_tokenizer_names_a_class_transformers_4_has_and_loads_the_same(tiny_tokenizer, tmp_path):
    from transformers import AutoTokenizer

    from training.tokenizer import save_tokenizer

    save_tokenizer(tiny_tokenizer, tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    # transformers 4.x has no TokenizersBackend ("Tokenizer class TokenizersBackend does not exist")
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "이 영화 정말 재미있었어요"
    assert loaded(text)["input_ids"] == tiny_tokenizer(text)["input_ids"]
