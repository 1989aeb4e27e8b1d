"""The one table of model heads: each head's name, class-name suffix, Auto class, Hub pipeline tag and the outputs an
export names. Loading, the task registry, ONNX export, model cards and publishing read it; none keeps a table of its
own. A library module that imports nothing (no torch): `kr-electra-kd tasks` and `upload` read it cheaply.

The class of a head in this family is `KRElectraKD<suffix>` (what `modeling_kr_electra_kd.AUTO_MAP` names); stock
ELECTRA and BERT classes end in the same suffixes (`ElectraForSequenceClassification`, `BertModel`).
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILY_PREFIX = "KRElectraKD"


@dataclass(frozen=True)
class Head:
    name: str  # what --head and the task registry call it
    suffix: str  # the end of its class name, in this family, ELECTRA and BERT
    auto_class: str  # the transformers Auto class that loads it
    pipeline_tag: str  # the Hub's pipeline tag for a card's metadata
    outputs: tuple[str, ...]  # the output names an export writes, as transformers.js and optimum name them

    @property
    def class_name(self) -> str:
        """This family's class of the head, e.g. `KRElectraKDForSequenceClassification`."""
        return FAMILY_PREFIX + self.suffix


HEADS: dict[str, Head] = {
    head.name: head
    for head in (
        Head("base", "Model", "AutoModel", "feature-extraction", ("last_hidden_state",)),
        Head("pretraining", "ForPreTraining", "AutoModelForPreTraining", "feature-extraction", ("logits",)),
        Head("masked-lm", "ForMaskedLM", "AutoModelForMaskedLM", "fill-mask", ("logits",)),
        Head(
            "sequence-classification",
            "ForSequenceClassification",
            "AutoModelForSequenceClassification",
            "text-classification",
            ("logits",),
        ),
        Head(
            "token-classification",
            "ForTokenClassification",
            "AutoModelForTokenClassification",
            "token-classification",
            ("logits",),
        ),
        Head(
            "question-answering",
            "ForQuestionAnswering",
            "AutoModelForQuestionAnswering",
            "question-answering",
            ("start_logits", "end_logits"),
        ),
    )
}


def head_of_architecture(architecture: str) -> Head:
    """The head of a class name (this family's, ELECTRA's or BERT's), by its longest matching suffix."""
    for head in sorted(HEADS.values(), key=lambda head: -len(head.suffix)):
        if architecture.endswith(head.suffix):
            return head
    raise ValueError(
        f"Unsupported architecture {architecture!r}: convertible heads are "
        f"{', '.join('*' + head.suffix for head in HEADS.values())} of ELECTRA, BERT or KR-ELECTRA-KD."
    )


def head_of_config(config: dict | object) -> Head:
    """The head of a config (a loaded config or config.json's dict): its first `architectures` entry, else the base."""
    architectures = config.get("architectures") if isinstance(config, dict) else getattr(config, "architectures", None)
    return head_of_architecture((architectures or ["Model"])[0])
