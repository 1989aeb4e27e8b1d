"""A Korean WordPiece tokenizer whose vocabulary is learned from morphemes, as KR-ELECTRA builds its vocabulary from
Mecab-ko morphemes; and the checks that a tokenizer fits a model or matches a teacher's.

Training splits every word (eojeol) of the corpus into morphemes with Kiwi (kiwipiepy, a wheel on PyPI): the first
morpheme of a word counts as a word-initial piece, the rest as `##` continuations, by their surface form in the text
(Kiwi restores lemmas, e.g. 했 -> 하 + 었; the vocabulary must spell the raw text, so pieces are cut at the surface
offsets instead). The vocabulary is every character (both forms, so nothing written in the corpus becomes [UNK]) plus
the most frequent morpheme pieces. The result is a plain BERT-style fast WordPiece tokenizer: at inference it needs no
analyzer and no custom code, and `AutoTokenizer` / `pipeline()` load it as they load any BERT tokenizer.

    kr-electra-kd train-tokenizer --corpus reviews.txt.gz --output_dir tok
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tqdm.auto import tqdm
from transformers import PretrainedConfig, PreTrainedTokenizerBase, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _backend(vocab: dict[str, int] | None = None) -> Tokenizer:
    """BERT's pipeline without lowercasing or accent stripping (both would break Hangul), with NFC so that composed
    and decomposed Hangul map to the same pieces."""
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.BertNormalizer(clean_text=True, strip_accents=False, lowercase=False)]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


# transformers 5 saves its fast tokenizers as `TokenizersBackend`, a class transformers 4.x lacks (it then fails with
# "Tokenizer class TokenizersBackend does not exist"). `PreTrainedTokenizerFast` is that same class in 5 and the
# tokenizer.json reader in 4.x, so a folder that names it loads, unchanged, in both.
PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"


# What transformers writes into tokenizer_config.json from how a tokenizer was loaded or last called, not from what it
# is: where its files came from (`is_local`, `local_files_only`, a cache folder, a token, a revision) and call options
# (`max_length`, `stride`, padding and truncation strategies). Published with a model they mislead (a reader would
# look for local files, or truncate every input to the last call's length), so they are never saved.
RUNTIME_TOKENIZER_KEYS = (
    "is_local",
    "local_files_only",
    "cache_dir",
    "token",
    "use_auth_token",
    "revision",
    "subfolder",
    "force_download",
    "proxies",
    "trust_remote_code",
    "code_revision",
    "_commit_hash",
    "_from_auto",
    "name_or_path",
    "max_length",
    "stride",
    "truncation",
    "truncation_strategy",
    "padding",
    "padding_strategy",
    "pad_to_multiple_of",
    "return_tensors",
    "return_overflowing_tokens",
    "return_offsets_mapping",
)
# Sides that only restate the default ("right"): saved only when they say something.
DEFAULT_SIDES = {"truncation_side": "right", "padding_side": "right"}


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, folder: str | Path) -> None:
    """`tokenizer.save_pretrained(folder)`, naming a tokenizer class that transformers 4.x and 5 both have, and keeping
    only what describes the tokenizer (see RUNTIME_TOKENIZER_KEYS). Every command saves tokenizers through this."""
    tokenizer.save_pretrained(folder)
    make_tokenizer_config_portable(folder)


def runtime_tokenizer_keys(config: dict) -> list[str]:
    """The keys of a tokenizer_config.json that describe how the tokenizer was loaded or called, not the tokenizer."""
    return [key for key in config if key in RUNTIME_TOKENIZER_KEYS]


def make_tokenizer_config_portable(folder: str | Path) -> None:
    """Rewrite a saved folder's tokenizer_config.json: transformers 5's `TokenizersBackend` renamed (see above), the
    run-time keys (RUNTIME_TOKENIZER_KEYS) and sides that restate the default removed."""
    config_file = Path(folder) / "tokenizer_config.json"
    if not config_file.is_file():
        return
    config = json.loads(config_file.read_text(encoding="utf-8"))
    dropped = set(runtime_tokenizer_keys(config)) | {
        key for key, side in DEFAULT_SIDES.items() if config.get(key) == side
    }
    cleaned = {key: value for key, value in config.items() if key not in dropped}
    if cleaned.get("tokenizer_class") == "TokenizersBackend":
        cleaned["tokenizer_class"] = PORTABLE_TOKENIZER_CLASS
    if cleaned != config:
        config_file.write_text(json.dumps(cleaned, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _wrap(tokenizer: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def morpheme_pieces(texts: Iterable[str], batch_size: int = 2048) -> Iterable[list[str]]:
    """Per text, its word pieces cut at Kiwi's morpheme boundaries: word-initial pieces as they are, the others with
    `##`, all in surface form. Whitespace-separated words and BERT's punctuation split are respected."""
    from kiwipiepy import Kiwi

    kiwi = Kiwi()
    splitter = _backend()
    batch: list[str] = []

    def flush():
        normalized = [splitter.normalizer.normalize_str(text) for text in batch]
        for text, tokens in zip(normalized, kiwi.tokenize(normalized)):
            boundaries = {token.start for token in tokens}
            pieces: list[str] = []
            for _word, (start, end) in splitter.pre_tokenizer.pre_tokenize_str(text):
                cuts = sorted({start, end} | {b for b in boundaries if start < b < end})
                for index, (left, right) in enumerate(zip(cuts, cuts[1:])):
                    piece = text[left:right]
                    pieces.append(piece if index == 0 else f"##{piece}")
            yield pieces

    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 30000,
    morpheme_aware: bool = True,
    min_frequency: int = 2,
    model_max_length: int = 512,
    show_progress: bool = True,
) -> PreTrainedTokenizerFast:
    """Learn a WordPiece vocabulary of at most `vocab_size` tokens from `texts`.

    `morpheme_aware=True` builds it from Kiwi morphemes (see the module docstring); `False` runs the `tokenizers`
    WordPiece trainer on the raw text, the baseline the benchmark compares with.
    """
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(
            f"vocab_size must be larger than {len(SPECIAL_TOKENS)} (the special tokens), got {vocab_size}."
        )
    texts = tqdm(texts, desc="reading corpus", unit=" lines", disable=not show_progress)
    if not morpheme_aware:
        tokenizer = _backend()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        if tokenizer.get_vocab_size() == len(SPECIAL_TOKENS):
            raise ValueError("The corpus contains no text to learn a vocabulary from.")
        return _wrap(tokenizer, model_max_length)

    pieces: Counter[str] = Counter()
    for text_pieces in morpheme_pieces(texts):
        pieces.update(text_pieces)
    if not pieces:
        raise ValueError("The corpus contains no text to learn a vocabulary from.")
    # Characters first (both forms: full coverage of what the corpus writes), then morphemes by frequency; ties are
    # broken by the piece itself so the same corpus always gives the same vocabulary.
    characters: Counter[str] = Counter()
    for piece, count in pieces.items():
        for char in piece.removeprefix("##"):
            characters[char] += count
    ordered_chars = sorted(characters, key=lambda char: (-characters[char], char))
    vocab: list[str] = list(SPECIAL_TOKENS)
    seen = set(vocab)
    for char in ordered_chars:
        for form in (char, f"##{char}"):
            if form not in seen and len(vocab) < vocab_size:
                vocab.append(form)
                seen.add(form)
    for piece, count in sorted(pieces.items(), key=lambda item: (-item[1], item[0])):
        if len(vocab) >= vocab_size or count < min_frequency:
            break
        if piece not in seen and len(piece.removeprefix("##")) > 1:
            vocab.append(piece)
            seen.add(piece)
    return _wrap(_backend({token: index for index, token in enumerate(vocab)}), model_max_length)


def check_tokenizer_matches_config(tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig) -> None:
    """Refuse a tokenizer that produces ids the model has no embedding for, or pads with another id."""
    if len(tokenizer) > config.vocab_size:
        raise ValueError(
            f"The tokenizer has {len(tokenizer)} tokens but the model's embeddings cover only {config.vocab_size}; "
            "use the tokenizer the model was trained with (or resize the embeddings before training)."
        )
    pad_id = getattr(config, "pad_token_id", None)
    if pad_id is not None and tokenizer.pad_token_id is not None and tokenizer.pad_token_id != pad_id:
        raise ValueError(
            f"The tokenizer pads with id {tokenizer.pad_token_id} but the model's pad_token_id is {pad_id}; use the "
            "tokenizer the model was trained with."
        )


def check_same_vocabulary(
    teacher_tokenizer: PreTrainedTokenizerBase, student_tokenizer: PreTrainedTokenizerBase
) -> None:
    """Distillation compares teacher and student token by token: their vocabularies must be identical."""
    teacher_vocab, student_vocab = teacher_tokenizer.get_vocab(), student_tokenizer.get_vocab()
    if teacher_vocab == student_vocab:
        return
    differing = sorted(set(teacher_vocab.items()) ^ set(student_vocab.items()), key=lambda item: item[1])
    example = differing[0]
    raise ValueError(
        f"Teacher and student tokenizers differ ({len(teacher_vocab)} vs {len(student_vocab)} tokens, "
        f"{len(differing)} (token, id) pairs not shared, e.g. {example[0]!r} -> {example[1]}). Give the student the "
        "teacher's tokenizer."
    )


def train_tokenizer_from_corpus(
    corpus: list[str] | None,
    output_dir: str | Path,
    vocab_size: int = 30000,
    morpheme_aware: bool = True,
    max_lines: int | None = None,
    min_frequency: int = 2,
    model_max_length: int = 512,
    dataset=None,
) -> PreTrainedTokenizerFast:
    """`kr-electra-kd train-tokenizer` as a call: learn from the lines of the `corpus` files or of the `dataset`
    (`training.corpus.DatasetArguments`; at most `max_lines`, read as pre-training reads them) and save to
    `output_dir`. A bad corpus raises `CorpusError` (a ValueError) before anything is saved. In a command run the
    folder is locked first (one run per folder), and the tokenizer is written beside it and moved in whole
    (training/outputs.py)."""
    from training.corpus import corpus_source, iter_corpus_lines
    from training.outputs import atomic_output, claim_output_folder

    claim_output_folder(output_dir)
    tokenizer = train_tokenizer(
        iter_corpus_lines(corpus_source(corpus, dataset), max_lines=max_lines),
        vocab_size=vocab_size,
        morpheme_aware=morpheme_aware,
        min_frequency=min_frequency,
        model_max_length=model_max_length,
    )
    with atomic_output(output_dir) as staging:
        save_tokenizer(tokenizer, staging)
    return tokenizer
