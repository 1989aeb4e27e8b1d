"""The Korean task registry: one `Task` record per benchmark, with its data sources, labels, metrics and head."""

from __future__ import annotations

from dataclasses import dataclass, field

# Task kinds decide the reader's output schema, the preprocessing and the metric family.
CLASSIFICATION = "classification"  # columns: text, [text_pair], label (int)
REGRESSION = "regression"  # columns: text, text_pair, label (float)
TOKEN_CLASSIFICATION = "token-classification"  # columns: tokens (list[str]), ner_tags (list[int])
QUESTION_ANSWERING = "question-answering"  # columns: id, title, context, question, answers (SQuAD v1.1)

# The Naver NER tag set (naver/nlp-challenge): 14 entity types, BIO with the tag *after* the type ("PER-B").
NAVER_NER_TYPES = ("PER", "FLD", "AFW", "ORG", "LOC", "CVL", "DAT", "TIM", "NUM", "EVT", "ANM", "PLT", "MAT", "TRM")
_HEAD_OF_KIND = {
    CLASSIFICATION: "sequence-classification",
    REGRESSION: "sequence-classification",  # one output, MSE loss
    TOKEN_CLASSIFICATION: "token-classification",
    QUESTION_ANSWERING: "question-answering",
}

NAVER_NER_LABELS = ("O",) + tuple(f"{kind}-{position}" for kind in NAVER_NER_TYPES for position in ("B", "I"))


@dataclass(frozen=True)
class HubSplit:
    """Where one split lives on the Hugging Face Hub: dataset id, config name and split name."""

    dataset: str
    config: str | None
    split: str


@dataclass(frozen=True)
class Task:
    """Everything the fine-tuning and evaluation code needs to know about one Korean benchmark."""

    name: str
    description: str
    kind: str
    label_names: tuple[str, ...]
    metric_names: tuple[str, ...]
    primary_metric: str
    hf_dataset: str | None  # None: no public Hub copy, a local folder is required
    hub_splits: dict[str, HubSplit] = field(default_factory=dict)  # "train"/"eval" -> where on the Hub
    # Local files, in the original format: candidates per split, the first that exists wins.
    train_files: tuple[str, ...] = ()
    eval_files: tuple[str, ...] = ()
    # When no train file exists, train on a seeded share of the eval file (grouped by article for KorQuAD).
    holdout_train_fraction: float | None = None
    local_format: str = ""  # what the files look like, for error messages and `kr-electra-kd tasks`
    default_max_seq_length: int = 128
    # Each example is one text (no pair, no question and context), so plain unlabeled text can stand in for it
    # (`distill --transfer_corpus`, the quickstart's demo).
    single_text: bool = False

    @property
    def head(self) -> str:
        """The model head (a key of training.heads.HEADS)."""
        return _HEAD_OF_KIND[self.kind]

    @property
    def data_folder(self) -> str:
        """The task's folder name in ../shared/data (the three hate-speech tasks share kohate/)."""
        return "kohate" if self.name.startswith("kohate") else self.name

    @property
    def num_labels(self) -> int:
        """Outputs of the head: the number of classes, 1 for regression, start/end (2) for QA."""
        if self.kind == REGRESSION:
            return 1
        if self.kind == QUESTION_ANSWERING:
            return 2
        return len(self.label_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.label_names)}


_ACCURACY = ("accuracy",)


def _kohate_task(name: str, description: str, label_names: tuple[str, ...]) -> Task:
    """The three tasks read from the same kocohub/korean-hate-speech files, each with its own label (readers.py)."""
    return Task(
        name=name,
        description=description,
        kind=CLASSIFICATION,
        label_names=label_names,
        metric_names=("macro_f1", "accuracy"),
        primary_metric="macro_f1",
        hf_dataset="inmoonlight/kor_hate",
        hub_splits={
            "train": HubSplit("inmoonlight/kor_hate", None, "train"),
            "eval": HubSplit("inmoonlight/kor_hate", None, "test"),  # the Hub's "test" is the public dev.tsv
        },
        train_files=("train.tsv",),
        eval_files=("dev.tsv",),  # test labels are not public: dev is the evaluation split of the benchmarks
        local_format="TSV with header `comments contain_gender_bias bias hate`",
        single_text=True,
    )


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name="nsmc",
            description="NSMC movie-review sentiment (negative / positive)",
            kind=CLASSIFICATION,
            label_names=("negative", "positive"),
            metric_names=_ACCURACY,
            primary_metric="accuracy",
            hf_dataset="e9t/nsmc",
            hub_splits={"train": HubSplit("e9t/nsmc", None, "train"), "eval": HubSplit("e9t/nsmc", None, "test")},
            train_files=("ratings_train.txt", "ratings_train.txt.gz"),
            eval_files=("ratings_test.txt", "ratings_test.txt.gz"),
            local_format="TSV with header `id document label` (0 negative, 1 positive), optionally gzipped",
            single_text=True,
        ),
        _kohate_task(
            "kohate",
            "Korean hate speech, 3 classes (hate / offensive / none), macro-F1 as in the Korean benchmarks",
            ("none", "offensive", "hate"),
        ),
        _kohate_task(
            "kohate-binary",
            "Korean hate speech as binary hate detection (hate + offensive vs none), as the paper frames it",
            ("none", "hateful"),
        ),
        _kohate_task(
            "kohate-bias",
            "Korean hate speech, social bias label (none / gender / others), macro-F1",
            ("none", "gender", "others"),
        ),
        Task(
            name="kornli",
            description="KorNLI natural language inference (entailment / neutral / contradiction)",
            kind=CLASSIFICATION,
            label_names=("entailment", "neutral", "contradiction"),
            metric_names=_ACCURACY,
            primary_metric="accuracy",
            hf_dataset="kakaobrain/kor_nli",
            hub_splits={
                "train": HubSplit("kakaobrain/kor_nli", "multi_nli", "train"),
                "eval": HubSplit("kakaobrain/kor_nli", "xnli", "test"),
            },
            # The MultiNLI training file when present; otherwise train on xnli.dev (small-scale runs).
            train_files=("multinli.train.ko.tsv", "xnli.dev.ko.tsv"),
            eval_files=("xnli.test.ko.tsv",),
            local_format="TSV with header `sentence1 sentence2 gold_label`",
        ),
        Task(
            name="korsts",
            description="KorSTS semantic textual similarity (0-5 regression), Pearson and Spearman x100",
            kind=REGRESSION,
            label_names=("similarity",),
            metric_names=("spearman", "pearson"),
            primary_metric="spearman",
            hf_dataset="kakaobrain/kor_nlu",
            hub_splits={
                "train": HubSplit("kakaobrain/kor_nlu", "sts", "train"),
                "eval": HubSplit("kakaobrain/kor_nlu", "sts", "test"),
            },
            train_files=("sts-train.tsv",),
            eval_files=("sts-test.tsv",),
            local_format="TSV with header `genre filename year id score sentence1 sentence2`, read with QUOTE_NONE",
        ),
        Task(
            name="korquad",
            description="KorQuAD 1.0 extractive QA, exact match and F1 with the official KorQuAD normalisation",
            kind=QUESTION_ANSWERING,
            label_names=("start", "end"),
            metric_names=("exact_match", "f1"),
            primary_metric="f1",
            hf_dataset="KorQuAD/squad_kor_v1",
            hub_splits={
                "train": HubSplit("KorQuAD/squad_kor_v1", None, "train"),
                "eval": HubSplit("KorQuAD/squad_kor_v1", None, "validation"),
            },
            train_files=("KorQuAD_v1.0_train.json",),
            eval_files=("KorQuAD_v1.0_dev.json",),
            holdout_train_fraction=0.8,  # without the train file: 80% of the dev articles train, 20% evaluate
            local_format="SQuAD v1.1 JSON ({'version', 'data': [{'title', 'paragraphs': [{'context', 'qas'}]}]})",
            default_max_seq_length=384,
        ),
        Task(
            name="qpair",
            description="Korean question pair: do the two questions mean the same (same / different)",
            kind=CLASSIFICATION,
            # In this data is_duplicate 0 marks pairs that mean the same (identical questions carry 0).
            label_names=("same", "different"),
            metric_names=_ACCURACY,
            primary_metric="accuracy",
            hf_dataset="songys/kor_qpair",
            hub_splits={
                "train": HubSplit("songys/kor_qpair", None, "train"),
                "eval": HubSplit("songys/kor_qpair", None, "test"),
            },
            train_files=("train.tsv",),
            eval_files=("test.tsv",),
            local_format="TSV with header `question1 question2 is_duplicate` (0 = same meaning, 1 = different)",
        ),
        Task(
            name="ner",
            description="Naver NER, 14 entity types (X-B / X-I tags), entity-level F1 via seqeval",
            kind=TOKEN_CLASSIFICATION,
            label_names=NAVER_NER_LABELS,
            metric_names=("entity_f1", "precision", "recall", "accuracy"),
            primary_metric="entity_f1",
            hf_dataset=None,  # no public Hub copy of the naver/nlp-challenge data: pass --data-dir
            train_files=("train.tsv",),
            eval_files=("test.tsv",),
            holdout_train_fraction=0.8,  # without train.tsv: 80% of test.tsv trains, 20% evaluates
            local_format="TSV without header: `words separated by spaces<TAB>one tag per word` (e.g. `PER-B O`)",
            single_text=True,
        ),
        Task(
            name="paws",
            description="PAWS-X Korean paraphrase identification (not paraphrase / paraphrase)",
            kind=CLASSIFICATION,
            label_names=("not_paraphrase", "paraphrase"),
            metric_names=_ACCURACY,
            primary_metric="accuracy",
            hf_dataset="google-research-datasets/paws-x",
            hub_splits={
                "train": HubSplit("google-research-datasets/paws-x", "ko", "train"),
                "eval": HubSplit("google-research-datasets/paws-x", "ko", "test"),
            },
            # The machine-translated train file when present; otherwise dev_2k trains (small-scale runs).
            train_files=("translated_train.tsv", "dev_2k.tsv"),
            eval_files=("test_2k.tsv",),
            local_format="TSV with header `id sentence1 sentence2 label` (1 = paraphrase)",
        ),
    )
}


def get_task(name: str) -> Task:
    """The task called `name`; an unknown name raises ValueError listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; known tasks: {', '.join(TASKS)}.")
    return TASKS[name]


def single_text_tasks(kind: str | None = None) -> tuple[str, ...]:
    """The names of the tasks whose examples are one text each (of `kind` only, when given)."""
    return tuple(task.name for task in TASKS.values() if task.single_text and kind in (None, task.kind))
