# Copyright 2026 The kr-electra-kd developers.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""KR-ELECTRA-KD model configuration: ELECTRA's fields plus the ranks of the low-rank factors."""

from transformers import PretrainedConfig

# Written into every saved config, for every head, so any folder loads with any Auto class and
# `trust_remote_code=True` (e.g. the encoder of a pre-training checkpoint through `AutoModel`). Plain file references:
# the code files travel with the weights.
AUTO_MAP = {
    "AutoConfig": "configuration_kr_electra_kd.KRElectraKDConfig",
    "AutoModel": "modeling_kr_electra_kd.KRElectraKDModel",
    "AutoModelForPreTraining": "modeling_kr_electra_kd.KRElectraKDForPreTraining",
    "AutoModelForMaskedLM": "modeling_kr_electra_kd.KRElectraKDForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_kr_electra_kd.KRElectraKDForSequenceClassification",
    "AutoModelForTokenClassification": "modeling_kr_electra_kd.KRElectraKDForTokenClassification",
    "AutoModelForQuestionAnswering": "modeling_kr_electra_kd.KRElectraKDForQuestionAnswering",
}

# Named shapes. Ranks were chosen so that the fp32 safetensors file of the encoder (KRElectraKDModel) at a
# 30,000-word vocabulary lands within 10% of the sizes in Kim & Choi (Entropy 2025); `scripts/update_readme.py`
# measures them and writes the table in README.md.
# ELECTRA-small's shape, shared by every student.
_SMALL = {
    "embedding_size": 128,
    "hidden_size": 256,
    "num_hidden_layers": 12,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
}

PRESETS: dict[str, dict] = {
    # The 110M-parameter, 432 MB teacher: ELECTRA-base.
    "teacher-base": {
        "embedding_size": 768,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
    # The 14M / 53 MB student: all matrices dense.
    "small-kd": dict(_SMALL),
    # LF-V1 (35 MB): both FFN matrices low-rank.
    "small-lf-v1": {**_SMALL, "ffn_rank": 56},
    # LF-V2 (30 MB): FFN and attention (Q, K, V, output) low-rank.
    "small-lf-v2": {**_SMALL, "ffn_rank": 56, "attention_rank": 72},
    # LF-V3 (18 MB): LF-V2 plus a low-rank word-embedding matrix.
    "small-lf-v3": {**_SMALL, "ffn_rank": 56, "attention_rank": 72, "embedding_rank": 28},
    # A toy shape for unit tests and the quickstart: seconds on a CPU.
    "tiny": {
        "embedding_size": 32,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
    },
}


# The factorizable matrices of one encoder layer, by the name `matrix_ranks` keys use, and the rank group of each.
LAYER_MATRICES = {
    "query": "attention",
    "key": "attention",
    "value": "attention",
    "attention_output": "attention",
    "ffn_intermediate": "ffn",
    "ffn_output": "ffn",
}

# Where an encoder layer puts its layer norms (`KRElectraKDConfig.layer_norm_position`): after each residual sum
# (ELECTRA, the default), or at the start of each residual branch plus once after the last layer (pre-LN).
LAYER_NORM_POSITIONS = ("post", "pre")
# What the sentence-classification head reads (`KRElectraKDConfig.classifier_pooling`): the first ([CLS]) token's state,
# or the mean of every non-padding token's.
CLASSIFIER_POOLINGS = ("cls", "mean")


def check_preset(name: str, what: str = "preset") -> None:
    """Refuse (one-line ValueError naming the choices) a `name` that is not in PRESETS. `what` names the option in the
    message (e.g. "student preset"). The one copy of this check: commands call it before loading anything."""
    if name not in PRESETS:
        raise ValueError(f"Unknown {what} {name!r}; choose one of: {', '.join(PRESETS)}.")


class KRElectraKDConfig(PretrainedConfig):
    r"""
    Configuration of a KR-ELECTRA-KD model: an ELECTRA encoder whose embedding, attention and feed-forward matrices can
    each be replaced by a product of two thin matrices (a low-rank factorization). With every rank left at `None` the
    model is exactly ELECTRA, and stock ELECTRA/BERT checkpoints convert into it without loss.

    Args:
        vocab_size (`int`, *optional*, defaults to 30000):
            Size of the WordPiece vocabulary (KR-ELECTRA uses 30,000 Korean word pieces).
        embedding_size (`int`, *optional*, defaults to 128):
            Width of the token, position and type embeddings; projected to `hidden_size` when the two differ.
        hidden_size (`int`, *optional*, defaults to 256):
            Width of the encoder layers.
        num_hidden_layers (`int`, *optional*, defaults to 12):
            Number of transformer layers.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Attention heads per layer; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 1024):
            Width of the feed-forward (FFN) layer.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the FFN and of the prediction heads.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on embeddings and on every residual branch.
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on the attention probabilities.
        max_position_embeddings (`int`, *optional*, defaults to 512):
            Longest sequence the position embeddings cover.
        type_vocab_size (`int`, *optional*, defaults to 2):
            Number of segment (token type) ids.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initializer of all weight matrices.
        layer_norm_eps (`float`, *optional*, defaults to 1e-12):
            Epsilon of the layer norms.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token.
        classifier_dropout (`float`, *optional*):
            Dropout of the classification heads; `hidden_dropout_prob` when `None`.
        classifier_activation (`str`, *optional*, defaults to `"gelu"`):
            Activation of the sentence-classification head (ELECTRA: gelu; a converted BERT keeps its pooler's tanh).
        embedding_rank (`int`, *optional*):
            Rank of the factorized word-embedding matrix (`vocab_size x embedding_size` becomes
            `vocab_size x embedding_rank` times `embedding_rank x embedding_size`). `None` keeps it dense.
        attention_rank (`int`, *optional*):
            Rank of the factorized query, key, value and attention-output matrices (`hidden_size x hidden_size` each).
            `None` keeps them dense.
        ffn_rank (`int`, *optional*):
            Rank of both factorized feed-forward matrices (`hidden_size x intermediate_size` and back). `None` keeps
            them dense.
        matrix_ranks (`dict[str, int | None]`, *optional*):
            Ranks of single matrices, overriding their group's rank (`attention_rank` or `ffn_rank`). Keys are
            `"<layer>.<matrix>"`, the layer counted from 0 and the matrix one of `query`, `key`, `value`,
            `attention_output`, `ffn_intermediate`, `ffn_output`; e.g. `{"0.query": 40, "3.ffn_output": None}`, where
            `None` keeps that matrix dense. Matrices not named take their group's rank. Written by
            `kr-electra-kd convert --target_mb` / `--target_ms`, which choose a rank per matrix for a size or latency
            budget; configs without it (one rank per group) load unchanged.
        layer_norm_position (`str`, *optional*, defaults to `"post"`):
            Where each encoder layer normalises. `"post"` is ELECTRA's (and BERT's) layout: a layer norm after each
            residual sum. `"pre"` is the pre-LN layout of RoBERTa-PreLayerNorm and Cramming (Geiping & Goldstein,
            2022): a layer norm at the start of the attention and of the feed-forward branch, the residual sums left
            unnormalised, and one final layer norm after the last layer, so the heads and `last_hidden_state` see
            normalised states. Pre-LN keeps gradients well scaled at every depth, so it trains stably at the higher
            learning rates and short warm-ups that a small pre-training budget needs. Configs saved without this field
            load as `"post"`.
        classifier_pooling (`str`, *optional*, defaults to `"cls"`):
            What the sentence-classification (and regression) head reads. `"cls"` is ELECTRA's (and BERT's): the first
            token's last hidden state. `"mean"` (ModernBERT's option of the same name): the mean of the last hidden
            states of every token the attention mask keeps. ELECTRA's pre-training gives no objective to the first
            token's state, so a briefly pre-trained encoder's [CLS] states are nearly the same for every sentence,
            while its mean states are not; `"mean"` lets the head read them from the first fine-tuning step. Configs
            saved without this field load as `"cls"`.
        rank_budget (`dict`, *optional*):
            A record, not a setting: the budget `convert --target_mb` / `--target_ms` chose `matrix_ranks` for and what
            it measured (target, size or latency reached, smallest reachable). It travels with the model so that model
            cards can state it; nothing in the model reads it.
        kwargs (*optional*):
            Passed on to [`PretrainedConfig`]: e.g. `num_labels`, `id2label`, or `attn_implementation` (`"sdpa"`, the
            default, or `"eager"`). `tie_word_embeddings` defaults to `True` (the generator's output layer shares the
            word embeddings), and `auto_map` is always this family's `AUTO_MAP`, whatever a loaded config carried.

    Every rank must be at least 1 and at most the smaller side of the matrix it factors (the matrix's largest possible
    rank). Only ranks well below that save parameters; the maximum itself gives an exact factorization, which is what
    checks of the SVD conversion use.

    Example:

    ```python
    >>> from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDModel

    >>> config = KRElectraKDConfig.from_preset("small-lf-v2")
    >>> model = KRElectraKDModel(config)
    ```
    """

    model_type = "kr-electra-kd"

    def __init__(
        self,
        vocab_size: int = 30000,
        embedding_size: int = 128,
        hidden_size: int = 256,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 4,
        intermediate_size: int = 1024,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        classifier_dropout: float | None = None,
        classifier_activation: str = "gelu",
        embedding_rank: int | None = None,
        attention_rank: int | None = None,
        ffn_rank: int | None = None,
        matrix_ranks: dict[str, int | None] | None = None,
        rank_budget: dict | None = None,
        layer_norm_position: str = "post",
        classifier_pooling: str = "cls",
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.classifier_dropout = classifier_dropout
        self.classifier_activation = classifier_activation
        self.embedding_rank = embedding_rank
        self.attention_rank = attention_rank
        self.ffn_rank = ffn_rank
        self.matrix_ranks = dict(matrix_ranks) if matrix_ranks else None
        self.rank_budget = rank_budget
        self.layer_norm_position = layer_norm_position
        self.classifier_pooling = classifier_pooling
        # ELECTRA's generator shares the word embeddings with its output layer.
        kwargs.setdefault("tie_word_embeddings", True)
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        # Replaces what a loaded config carried: a model loaded from a Hub repo has `repo--module.Class` references,
        # which would point a folder saved elsewhere back at that repo instead of at its own code files.
        self.auto_map = dict(AUTO_MAP)
        self.validate_shapes()

    def validate_shapes(self) -> None:
        """Raise a `ValueError` naming the field when a size or rank is out of range (checked at config time, so a bad
        value never reaches a forward pass)."""
        for name in (
            "vocab_size",
            "embedding_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"KRElectraKDConfig.{name} must be a positive integer, got {value!r}.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"KRElectraKDConfig.hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}); allowed head counts are the divisors of {self.hidden_size}."
            )
        if self.layer_norm_position not in LAYER_NORM_POSITIONS:
            raise ValueError(
                f"KRElectraKDConfig.layer_norm_position must be one of {', '.join(map(repr, LAYER_NORM_POSITIONS))}, "
                f"got {self.layer_norm_position!r}."
            )
        if self.classifier_pooling not in CLASSIFIER_POOLINGS:
            raise ValueError(
                f"KRElectraKDConfig.classifier_pooling must be one of {', '.join(map(repr, CLASSIFIER_POOLINGS))}, "
                f"got {self.classifier_pooling!r}."
            )
        # An m x n matrix has rank at most min(m, n): a larger factor rank is meaningless.
        rank_limits = {
            "embedding_rank": min(self.vocab_size, self.embedding_size),
            "attention_rank": self.hidden_size,
            "ffn_rank": min(self.hidden_size, self.intermediate_size),
        }
        for name, limit in rank_limits.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
                raise ValueError(
                    f"KRElectraKDConfig.{name} must be an integer from 1 to {limit} (the rank of the matrix it "
                    f"factors), or None for a dense matrix; got {value!r}."
                )
        self._validate_matrix_ranks()

    def _validate_matrix_ranks(self) -> None:
        """Each `matrix_ranks` key names a layer and matrix that exist, and each rank fits its matrix."""
        limits = {"attention": self.hidden_size, "ffn": min(self.hidden_size, self.intermediate_size)}
        for key, value in (self.matrix_ranks or {}).items():
            layer, _, matrix = str(key).partition(".")
            if not layer.isdigit() or int(layer) >= self.num_hidden_layers or matrix not in LAYER_MATRICES:
                raise ValueError(
                    f"KRElectraKDConfig.matrix_ranks key {key!r} is not '<layer>.<matrix>' with a layer from 0 to "
                    f"{self.num_hidden_layers - 1} and a matrix among {', '.join(LAYER_MATRICES)}."
                )
            limit = limits[LAYER_MATRICES[matrix]]
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit):
                raise ValueError(
                    f"KRElectraKDConfig.matrix_ranks[{key!r}] must be an integer from 1 to {limit} (the rank of the "
                    f"matrix it factors), or None for a dense matrix; got {value!r}."
                )

    def rank_of(self, layer_index: int, matrix: str) -> int | None:
        """The rank of one layer's matrix (a `LAYER_MATRICES` name): its `matrix_ranks` entry, else its group's rank;
        None means dense."""
        key = f"{layer_index}.{matrix}"
        if self.matrix_ranks and key in self.matrix_ranks:
            return self.matrix_ranks[key]
        return getattr(self, f"{LAYER_MATRICES[matrix]}_rank")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "KRElectraKDConfig":
        """Build the config of a named shape (`teacher-base`, `small-kd`, `small-lf-v1`, `small-lf-v2`,
        `small-lf-v3`, `tiny`); keyword arguments override any field, e.g. `vocab_size` or `num_labels`."""
        check_preset(name)
        return cls(**{**PRESETS[name], **overrides})

    @property
    def is_low_rank(self) -> bool:
        ranks = [self.embedding_rank, self.attention_rank, self.ffn_rank, *(self.matrix_ranks or {}).values()]
        return any(rank is not None for rank in ranks)


# transformers' route for custom code: saving a config copies this file and writes auto_map (see AUTO_MAP).
KRElectraKDConfig.register_for_auto_class()

__all__ = [
    "AUTO_MAP",
    "CLASSIFIER_POOLINGS",
    "KRElectraKDConfig",
    "LAYER_MATRICES",
    "LAYER_NORM_POSITIONS",
    "PRESETS",
    "check_preset",
]
