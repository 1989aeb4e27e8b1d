"""Token embeddings from corpus co-occurrence (training/embedding_init.py): counts, PPMI and SVD against answers
worked out by hand, and the pre-training option that starts a teacher from them."""

import math

import numpy as np
import pytest
import torch

from training import embedding_init
from training.embedding_init import (
    CooccurrenceSettings,
    cooccurrence_counts,
    initialise_word_embeddings,
    positive_pmi,
    ppmi_svd_embeddings,
    scaled_embeddings,
    svd_embeddings,
)


def test_counts_weight_each_pair_by_inverse_distance_within_a_text_only():
    counts = cooccurrence_counts([[1, 2, 3], [3, 0]], vocab_size=4, window=2).toarray()
    expected = np.zeros((4, 4))
    for left, right, weight in [(1, 2, 1.0), (2, 3, 1.0), (1, 3, 0.5), (3, 0, 1.0)]:
        expected[left, right] += weight
        expected[right, left] += weight
    np.testing.assert_array_equal(counts, expected)
    # the last token of one text and the first of the next are not neighbours
    assert cooccurrence_counts([[1], [2]], vocab_size=3, window=5).nnz == 0


def test_counts_do_not_depend_on_the_chunk_size(monkeypatch):
    texts = [[1, 2, 3, 1], [2, 2], [], [3, 1, 2]]
    expected = np.zeros((4, 4))
    for ids in texts:
        for i in range(len(ids)):
            for j in range(i + 1, min(len(ids), i + 3)):
                expected[ids[i], ids[j]] += 1 / (j - i)
                expected[ids[j], ids[i]] += 1 / (j - i)
    monkeypatch.setattr(embedding_init, "CHUNK_LINES", 1)
    np.testing.assert_allclose(cooccurrence_counts(texts, 4, 2).toarray(), expected)


def test_a_window_below_one_is_refused():
    with pytest.raises(ValueError, match="window must be at least 1"):
        cooccurrence_counts([[1, 2]], 3, 0)


def test_positive_pmi_by_hand():
    from scipy import sparse

    # tokens 0 and 1 only ever occur together; 2 occurs with itself: P(0,1) = 2/8, P(0) = P_c(1) = 2/8
    counts = sparse.csr_matrix(np.array([[0, 2, 0], [2, 0, 0], [0, 0, 4]], dtype=float))
    ppmi = positive_pmi(counts, context_smoothing=1.0).toarray()
    assert ppmi[0, 1] == pytest.approx(math.log((2 / 8) / (2 / 8 * 2 / 8)))
    assert ppmi[2, 2] == pytest.approx(math.log((4 / 8) / (4 / 8 * 4 / 8)))
    assert ppmi[0, 0] == 0 and ppmi[0, 2] == 0
    with pytest.raises(ValueError, match="No token pair co-occurs"):
        positive_pmi(sparse.csr_matrix((3, 3)))


def test_svd_embeddings_reproduce_a_low_rank_symmetric_matrix():
    from scipy import sparse

    factor = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0], [1.0, 1.0], [0.5, 0.0]])
    matrix = factor @ factor.T  # symmetric, positive semi-definite, rank 2
    vectors = svd_embeddings(sparse.csr_matrix(matrix), dim=2)
    np.testing.assert_allclose(vectors @ vectors.T, matrix, atol=1e-8)
    with pytest.raises(ValueError, match="between 1 and the vocabulary size"):
        svd_embeddings(sparse.csr_matrix(matrix), dim=5)


def test_scaled_embeddings_are_centred_with_the_asked_spread():
    vectors = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]])
    scaled = scaled_embeddings(vectors, std=0.1)
    assert scaled.dtype == torch.float32
    assert scaled.mean(dim=0).abs().max() < 1e-7
    assert scaled.std(unbiased=False).item() == pytest.approx(0.1, rel=1e-5)
    with pytest.raises(ValueError, match="all equal"):
        scaled_embeddings(np.ones((3, 2)), 0.1)


def test_tokens_that_share_contexts_get_similar_vectors(tiny_tokenizer):
    # 가/나 always follow 다; 라/마 always follow 바: the pairs must be closer to each other than across
    texts = ["다 가", "다 나", "바 라", "바 마"] * 50
    vectors = ppmi_svd_embeddings(texts, tiny_tokenizer, dim=4, settings=CooccurrenceSettings(window=1, std=0.1))
    assert vectors.shape == (len(tiny_tokenizer), 4)
    ids = {char: tiny_tokenizer.convert_tokens_to_ids(char) for char in "가나라마"}
    cosine = torch.nn.functional.cosine_similarity
    within = cosine(vectors[ids["가"]], vectors[ids["나"]], dim=0)
    across = cosine(vectors[ids["가"]], vectors[ids["라"]], dim=0)
    assert within > 0.9 and across < 0.5


def test_initialise_word_embeddings_copies_and_clears_padding():
    from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForPreTraining

    config = KRElectraKDConfig(vocab_size=12, embedding_size=8, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=32, pad_token_id=0)  # fmt: skip
    model = KRElectraKDForPreTraining(config)
    vectors = torch.arange(96, dtype=torch.float32).reshape(12, 8) / 100
    initialise_word_embeddings(model, vectors)
    weight = model.electra.embeddings.word_embeddings.weight
    torch.testing.assert_close(weight[1:], vectors[1:])
    assert weight[0].abs().sum() == 0
    with pytest.raises(ValueError, match=r"do not fit the word embeddings \(12, 8\)"):
        initialise_word_embeddings(model, torch.zeros(12, 4))


@pytest.mark.slow  # builds a pre-training run (corpus, tokenizer, the generator + discriminator pair)
def test_pretraining_starts_from_co_occurrence_embeddings(tmp_path, fixtures_dir, tiny_tokenizer):
    from transformers import TrainingArguments

    from training.pretraining import PretrainArguments, prepare_pretraining
    from training.trainer_common import PRETRAINING_DEFAULTS

    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    shape = "hidden_size=32,embedding_size=16,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64"

    def embeddings(init: str) -> torch.Tensor:
        args = PretrainArguments(corpus=[str(fixtures_dir / "corpus.txt")], tokenizer=str(tmp_path / "tok"),
                                 preset="tiny", shape=shape, max_seq_length=32, embedding_init=init,
                                 embedding_init_std=0.3)  # fmt: skip
        options = {**PRETRAINING_DEFAULTS, "output_dir": str(tmp_path / init), "max_steps": 1}
        run = prepare_pretraining(args, TrainingArguments(**options))
        # the generator shares the discriminator's embeddings, so both start from the vectors
        assert run.model.generator.electra.embeddings is run.model.discriminator.electra.embeddings
        return run.model.discriminator.electra.embeddings.word_embeddings.weight.detach().clone()

    random, ppmi = embeddings("random"), embeddings("ppmi-svd")
    assert random.std().item() == pytest.approx(0.02, rel=0.2)  # the model's own initialisation
    assert ppmi[1:].std(unbiased=False).item() == pytest.approx(0.3, rel=0.05)  # the asked spread (pad row zeroed)
    assert ppmi[0].abs().sum() == 0


@pytest.mark.slow  # builds two pre-training runs
def test_a_dataset_corpus_gives_the_same_starting_embeddings_as_its_text_file(tmp_path, korean_texts, tiny_tokenizer):
    from datasets import Dataset
    from transformers import TrainingArguments

    from training.corpus import DatasetArguments
    from training.pretraining import PretrainArguments, prepare_pretraining
    from training.trainer_common import PRETRAINING_DEFAULTS

    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    (tmp_path / "corpus.txt").write_text("\n".join(korean_texts) + "\n", encoding="utf-8")
    (tmp_path / "parquet").mkdir()
    Dataset.from_dict({"text": korean_texts}).to_parquet(str(tmp_path / "parquet" / "train-00000.parquet"))
    shape = "hidden_size=32,embedding_size=16,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64"

    def embeddings(name: str, corpus, dataset) -> torch.Tensor:
        args = PretrainArguments(corpus=corpus, tokenizer=str(tmp_path / "tok"), preset="tiny", shape=shape,
                                 max_seq_length=32, embedding_init="ppmi-svd")  # fmt: skip
        options = {**PRETRAINING_DEFAULTS, "output_dir": str(tmp_path / name), "max_steps": 1}
        run = prepare_pretraining(args, TrainingArguments(**options), dataset)
        return run.model.discriminator.electra.embeddings.word_embeddings.weight.detach().clone()

    from_file = embeddings("file", [str(tmp_path / "corpus.txt")], None)
    from_dataset = embeddings("dataset", None, DatasetArguments(dataset_name=str(tmp_path / "parquet")))
    torch.testing.assert_close(from_dataset, from_file)
    assert from_file[1:].std(unbiased=False).item() == pytest.approx(CooccurrenceSettings.std, rel=0.05)


def test_ppmi_svd_starts_at_the_models_own_embedding_scale_by_default():
    """Only the vectors' directions change by default: at 0.1 (five times initializer_range) the word vectors drowned
    the position embeddings after the embedding layer norm and the discriminator's RTD loss never left a constant
    prediction's (the quickstart's student then stayed at chance)."""
    from modeling_kr_electra_kd import KRElectraKDConfig
    from training.pretraining import PretrainArguments

    assert PretrainArguments.embedding_init == "ppmi-svd"
    assert PretrainArguments.embedding_init_std == CooccurrenceSettings().std == KRElectraKDConfig().initializer_range


@pytest.mark.parametrize("command", ["pretrain-teacher", "distill"])
def test_starting_embeddings_count_within_the_asked_window(monkeypatch, command):
    """--embedding_init_window reaches the counts (and --embedding_init_std the scale): with window 1 only neighbours
    count, with 2 the pair two apart does too."""
    from training.distillation.run import DistillArguments
    from training.pretraining import PretrainArguments

    arguments = {"pretrain-teacher": PretrainArguments, "distill": DistillArguments}[command]
    assert arguments.embedding_init_window == CooccurrenceSettings.window
    seen = {}

    def build(texts, tokenizer, width, settings):
        seen["settings"] = settings
        seen["counts"] = cooccurrence_counts([[1, 2, 3]], 4, settings.window).toarray()
        return torch.zeros(4, width)

    monkeypatch.setitem(embedding_init.EMBEDDING_INITS, "ppmi-svd", build)
    monkeypatch.setattr(embedding_init, "iter_corpus_lines", lambda source, max_lines: iter(()))
    for window, far_pair in ((1, 0.0), (2, 0.5)):
        args = arguments.__new__(arguments)  # only the fields starting_embeddings reads
        args.__dict__.update(embedding_init="ppmi-svd", embedding_init_lines=10, max_corpus_lines=None,
                             embedding_init_std=0.07, embedding_init_window=window, corpus=["unused.txt"])  # fmt: skip
        embedding_init.starting_embeddings(args, tokenizer=None, width=8)
        assert seen["settings"] == CooccurrenceSettings(window=window, std=0.07)
        assert seen["counts"][1, 3] == far_pair and seen["counts"][1, 2] == 1.0
