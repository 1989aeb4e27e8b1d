# Copyright 2026 The kr-electra-kd developers.
# Structure and weight names follow transformers' modeling_electra.py (Copyright 2019 The Google AI Language Team
# Authors and The HuggingFace Inc. team), so dense ELECTRA checkpoints load into this family unchanged.
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
"""PyTorch KR-ELECTRA-KD: a Korean ELECTRA whose matrices may be low-rank factors.

Read top to bottom in the order of transformers' modeling_electra.py: the low-rank linear layer, embeddings,
attention, feed-forward, the encoder, the heads' building blocks, the pre-trained model base, then the model and its
heads. Only transformers' public API is used, plus the two names modeling_electra.py itself takes from
transformers.modeling_layers and transformers.modeling_utils (each with a fallback, see the imports), so a folder
saved from here keeps loading with `trust_remote_code=True` across transformers releases.

Saving follows transformers' route for custom code: the config and every model class are registered for their Auto
class (`register_for_auto_class`, at the end of each file), so `save_pretrained` (and every Trainer checkpoint) writes
`auto_map` and copies the code files beside the weights.
"""

import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PreTrainedModel
from transformers.activations import ACT2FN, get_activation
from transformers.modeling_outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    ModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.utils import logging

from .configuration_kr_electra_kd import AUTO_MAP, KRElectraKDConfig

# Two names from outside transformers' top-level namespace, imported from where modeling_electra.py imports them: the
# base class that gives `gradient_checkpointing_enable()` its layers, and the registry of attention kernels behind
# `config._attn_implementation`. Saved folders must keep loading on older releases, so each has a fallback: a layer
# that checkpoints the same way (what transformers' own class did when it was added, in 4.52), and plain PyTorch SDPA.
try:
    from transformers.modeling_layers import GradientCheckpointingLayer
except ImportError:  # transformers < 4.52

    class GradientCheckpointingLayer(nn.Module):
        """Runs the layer through `_gradient_checkpointing_func` (set by `gradient_checkpointing_enable()`) while
        training; tensors that need gradients must be positional."""

        gradient_checkpointing = False

        def __call__(self, *args, **kwargs):
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                return self._gradient_checkpointing_func(partial(super().__call__, **kwargs), *args)
            return super().__call__(*args, **kwargs)


try:
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
except ImportError:  # transformers < 4.48
    ALL_ATTENTION_FUNCTIONS = None

logger = logging.get_logger(__name__)

# The extractive question-answering pipeline (transformers 5 has none of its own). It is not imported here: a
# question-answering folder names it in `config.custom_pipelines` and carries its file (see
# `KRElectraKDForQuestionAnswering.save_pretrained`), and `pipeline(..., trust_remote_code=True)` loads it from there.
PIPELINE_FILE = "pipeline_kr_electra_kd.py"
QUESTION_ANSWERING_PIPELINES = {
    "question-answering": {
        "impl": "pipeline_kr_electra_kd.KRElectraKDQuestionAnsweringPipeline",
        "pt": ["AutoModelForQuestionAnswering"],
        "type": "text",
    }
}
# Every code file a saved folder can carry (the pipeline only with the question-answering head).
CODE_FILES = ("configuration_kr_electra_kd.py", "modeling_kr_electra_kd.py", PIPELINE_FILE)
# At CPU inference the feed-forward block runs on this many tokens at a time: its `intermediate_size`-wide activation
# then stays in cache instead of streaming a (batch * seq, intermediate) tensor through memory, which costs a thin
# low-rank FFN more time than its multiplications do. See `feed_forward_in_chunks`.
FEED_FORWARD_CHUNK_TOKENS = 512


def is_building_graph() -> bool:
    """True while torch.compile, tracing or ONNX export records a graph: shape-dependent Python choices (how many
    chunks) would be frozen into it, so graph-building runs take the plain path."""
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()
    return compiling or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def feed_forward_in_chunks(hidden_states: torch.Tensor) -> bool:
    """Whether a layer runs its feed-forward block on `FEED_FORWARD_CHUNK_TOKENS` tokens at a time.

    Only for inference on CPU, where it was measured to pay (the activation stays in cache). On a GPU one large
    launch is faster: chunking made an H100 5x slower. Training keeps one block for autograd, and graph-building runs
    (compile, tracing, ONNX) take the plain path so no shape-dependent choice is frozen into the graph."""
    if is_building_graph() or torch.is_grad_enabled() or hidden_states.device.type != "cpu":
        return False
    return hidden_states.numel() // hidden_states.shape[-1] > FEED_FORWARD_CHUNK_TOKENS


def mark_as_factor(module: nn.Module, rank: int) -> None:
    """Tag one of two rank-`rank` factors, so `_init_weights` scales it: the product of two N(0, s) factors has entries
    of std s * s * sqrt(rank), which for s = 0.02 would start the layer near zero and stall training."""
    module.factor_rank = rank


class KRElectraKDLowRankLinear(nn.Module):
    """A linear layer whose `out x in` weight is the product of two thin matrices, `up (out x rank) @ down (rank x in)`:
    rank * (in + out) parameters instead of in * out. `down` has no bias; `up` carries the layer's bias."""

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.rank = rank
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features)
        mark_as_factor(self.down, rank)
        mark_as_factor(self.up, rank)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(hidden_states))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


def linear_or_low_rank(in_features: int, out_features: int, rank: int | None) -> nn.Module:
    """A dense `nn.Linear` when `rank` is None, else its low-rank replacement."""
    if rank is None:
        return nn.Linear(in_features, out_features)
    return KRElectraKDLowRankLinear(in_features, out_features, rank)


class KRElectraKDFactorizedEmbedding(nn.Embedding):
    """A factorized word embedding seen as one `nn.Embedding`: ids -> `vocab x rank` lookup -> `rank -> embedding_size`
    projection, so `model.get_input_embeddings()(ids)` is what the model adds position and type embeddings to, and
    `inputs_embeds` callers (prompt tuning, attribution, adversarial training) work at every rank.

    It owns no parameters: it reads the two factors from the embeddings module it belongs to (`word_embeddings` and
    `word_embeddings_up`, the names in the state dict), at every call, so a factor replaced there (peft LoRA,
    `resize_token_embeddings`) is the one it uses. `weight` is the `vocab x rank` factor, as `resize_token_embeddings`
    and weight tying expect of an input embedding. It is a submodule of that embeddings module (transformers looks
    input embeddings up among the model's modules) that `_init_weights` leaves alone: the factors are initialised as
    factors."""

    def __init__(self, owner: nn.Module):
        nn.Module.__init__(self)
        self.__dict__["owner"] = owner  # a plain reference: the owner holds this view as its submodule

    @property
    def factor(self) -> nn.Module:
        return self.owner.word_embeddings

    @property
    def up(self) -> nn.Module:
        return self.owner.word_embeddings_up

    @property
    def weight(self) -> torch.Tensor:
        return self.factor.weight

    @property
    def num_embeddings(self) -> int:
        return self.factor.weight.shape[0]

    @num_embeddings.setter
    def num_embeddings(self, value: int) -> None:  # set by resize_token_embeddings; the factor's shape says it
        self.factor.num_embeddings = value

    @property
    def embedding_dim(self) -> int:
        return self.up.weight.shape[0]

    @property
    def padding_idx(self) -> int | None:
        return getattr(self.factor, "padding_idx", None)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.up(self.factor(input_ids))

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, rank={self.factor.weight.shape[1]}"


class KRElectraKDEmbeddings(nn.Module):
    """Word, position and token-type embeddings. With `embedding_rank` set, the word-embedding matrix is factorized
    into a `vocab x rank` lookup followed by a `rank -> embedding_size` projection (the vocabulary dominates a small
    model's size, so this is where LF-V3 saves most)."""

    def __init__(self, config: KRElectraKDConfig):
        super().__init__()
        self.config = config
        word_width = config.embedding_rank or config.embedding_size
        self.word_embeddings = nn.Embedding(config.vocab_size, word_width, padding_idx=config.pad_token_id)
        if config.embedding_rank is not None:
            self.word_embeddings_up = nn.Linear(config.embedding_rank, config.embedding_size, bias=False)
            mark_as_factor(self.word_embeddings, config.embedding_rank)
            mark_as_factor(self.word_embeddings_up, config.embedding_rank)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)

        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

        self.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
        )
        self._refresh_token_embeddings()

    def _refresh_token_embeddings(self) -> None:
        """Build the factorized view when `word_embeddings` is the `vocab x rank` factor. The view is a submodule
        without parameters of its own, so the state dict keeps its two names."""
        rank = self.config.embedding_rank
        factorized = rank is not None and getattr(self.word_embeddings, "embedding_dim", None) == rank
        self.factorized_embeddings = KRElectraKDFactorizedEmbedding(self) if factorized else None

    @property
    def token_embeddings(self) -> nn.Module:
        """The module that maps token ids to `embedding_size`-wide vectors, as `get_input_embeddings()` returns it:
        `word_embeddings` itself when dense, else the factorized view (lookup, then up-projection)."""
        return self.factorized_embeddings if self.factorized_embeddings is not None else self.word_embeddings

    def set_token_embeddings(self, value: nn.Module) -> None:
        """Install `value` as the token embedding: a factorized view brings its two factors; on a factorized model
        a `rank`-wide `nn.Embedding` replaces the `vocab x rank` factor (what `resize_token_embeddings` hands over);
        any other module replaces the token embedding outright."""
        if isinstance(value, KRElectraKDFactorizedEmbedding):
            self.word_embeddings_up = value.up
            value = value.factor
        self.word_embeddings = value
        self._refresh_token_embeddings()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        input_shape = input_ids.shape if input_ids is not None else inputs_embeds.shape[:-1]
        seq_length = input_shape[1]
        # While tracing (ONNX export) the length is a traced value: the check would freeze it into the graph.
        if not torch.jit.is_tracing() and seq_length > self.position_embeddings.num_embeddings:
            raise ValueError(
                f"Sequence length {seq_length} exceeds max_position_embeddings "
                f"({self.position_embeddings.num_embeddings}); truncate the input (tokenizer(..., truncation=True))."
            )
        if position_ids is None:
            position_ids = self.position_ids[:, :seq_length]
        if token_type_ids is None:
            token_type_ids = torch.zeros(input_shape, dtype=torch.long, device=self.position_ids.device)

        if inputs_embeds is None:
            inputs_embeds = self.token_embeddings(input_ids)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
        embeddings = self.LayerNorm(embeddings)
        embeddings = self.dropout(embeddings)
        return embeddings


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention step by step, with transformers' attention-interface signature: the `(batch, seq, heads, head_size)`
    context and the attention probabilities (before dropout, as distillation matches them)."""
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # True = attend, as transformers' mask helpers write it
            attention_mask = torch.zeros_like(attention_mask, dtype=scores.dtype).masked_fill(
                ~attention_mask, torch.finfo(scores.dtype).min
            )
        scores = scores + attention_mask
    attention_probs = nn.functional.softmax(scores, dim=-1)
    context = torch.matmul(nn.functional.dropout(attention_probs, p=dropout, training=module.training), value)
    return context.transpose(1, 2), attention_probs


def sdpa_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """PyTorch's fused kernel, for tracing and for transformers releases without an attention registry (< 4.48)."""
    context = nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling
    )
    return context.transpose(1, 2), None


def attention_function(implementation: str | None, output_attentions: bool):
    """The kernel `config._attn_implementation` names, from transformers' registry as modeling_electra.py takes it:
    sdpa, flash_attention_2/3, flex_attention, or one registered by the user. "eager" is the local
    `eager_attention_forward`, and so is every call that asks for the attention maps (`output_attentions=True`,
    which distillation does), since only it materialises them."""
    if output_attentions or implementation in (None, "eager"):
        return eager_attention_forward
    # The local SDPA when transformers has no registry, and while tracing (ONNX export): transformers' SDPA wrapper
    # turns the traced sequence length into a Python bool (`q_length > 1`), which would freeze it into the graph.
    if ALL_ATTENTION_FUNCTIONS is None or (implementation == "sdpa" and torch.jit.is_tracing()):
        return sdpa_attention_forward
    if hasattr(ALL_ATTENTION_FUNCTIONS, "get_interface"):  # transformers >= 5
        return ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
    return ALL_ATTENTION_FUNCTIONS[implementation]


class KRElectraKDSelfAttention(nn.Module):
    """Multi-head self-attention; Q, K and V are low-rank when `attention_rank` (or their `matrix_ranks`) is set.

    `config._attn_implementation` picks the kernel through transformers' attention interface (see
    `attention_function`): "sdpa" (the default), "eager", a flash or flex kernel where installed, switchable with
    `model.set_attn_implementation(...)` or `from_pretrained(..., attn_implementation=...)`. Asking for the attention
    maps (`output_attentions=True`) takes the eager path whatever the setting.
    """

    def __init__(self, config: KRElectraKDConfig, layer_index: int):
        super().__init__()
        self.config = config
        self.is_causal = False  # an encoder: transformers' kernels read this
        self.layer_idx = layer_index
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.scaling = self.attention_head_size**-0.5

        hidden = config.hidden_size
        self.query = linear_or_low_rank(hidden, hidden, config.rank_of(layer_index, "query"))
        self.key = linear_or_low_rank(hidden, hidden, config.rank_of(layer_index, "key"))
        self.value = linear_or_low_rank(hidden, hidden, config.rank_of(layer_index, "value"))
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def project_qkv(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Query, key and value, each `(batch, seq, hidden)`.

        Low-rank Q, K and V run as two operations instead of six: one GEMM through their three down factors stacked
        into a `(3 * rank) x hidden` matrix, then one batched GEMM through the three up factors. The stacked matrices
        are built per call from the saved factors, so the state dict keeps its keys and gradients reach each factor.
        With unequal ranks (per-matrix ranks from `convert --target_mb`) the up factors run one by one. Dense
        projections, and wrapped ones (LoRA, quantization), run one by one."""
        projections = (self.query, self.key, self.value)
        if not all(
            type(p) is KRElectraKDLowRankLinear and type(p.down) is nn.Linear and type(p.up) is nn.Linear
            for p in projections
        ):
            return tuple(p(hidden_states) for p in projections)
        down_weight = torch.cat([p.down.weight for p in projections])  # (3 * rank, hidden)
        low_rank = nn.functional.linear(hidden_states, down_weight)
        ranks = [p.rank for p in projections]
        if len(set(ranks)) > 1:
            return tuple(p.up(part) for p, part in zip(projections, low_rank.split(ranks, dim=-1)))
        up_weight = torch.stack([p.up.weight for p in projections]).transpose(1, 2)  # (3, rank, hidden)
        up_bias = torch.stack([p.up.bias for p in projections]).unsqueeze(1)  # (3, 1, hidden)
        low_rank = low_rank.view(-1, 3, self.query.rank).transpose(0, 1)
        return torch.baddbmm(up_bias, low_rank, up_weight).view(3, *hidden_states.shape[:-1], -1).unbind(0)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, seq_length, _ = hidden_states.shape
        head_shape = (batch_size, seq_length, self.num_attention_heads, self.attention_head_size)
        query, key, value = (state.view(head_shape).transpose(1, 2) for state in self.project_qkv(hidden_states))

        attention_interface = attention_function(self.config._attn_implementation, output_attentions)
        context, attention_probs = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            scaling=self.scaling,
            dropout=self.dropout.p if self.training else 0.0,
        )
        context = context.reshape(batch_size, seq_length, -1)
        return context, attention_probs


def is_pre_layer_norm(config: KRElectraKDConfig) -> bool:
    """Whether the layers normalise the input of each residual branch (pre-LN) instead of each residual sum (post-LN,
    ELECTRA's); see `KRElectraKDConfig.layer_norm_position`. Configs saved before the field existed are post-LN."""
    return getattr(config, "layer_norm_position", "post") == "pre"


# Adapted from transformers.models.electra.modeling_electra.ElectraSelfOutput: `dense` may be low-rank, and with
# pre-LN the residual sum is left unnormalised (as in RobertaPreLayerNormSelfOutput).
class KRElectraKDSelfOutput(nn.Module):
    """The attention output projection (low-rank with Q, K, V), dropout, residual, and (post-LN) layer norm."""

    def __init__(self, config: KRElectraKDConfig, layer_index: int):
        super().__init__()
        rank = config.rank_of(layer_index, "attention_output")
        self.dense = linear_or_low_rank(config.hidden_size, config.hidden_size, rank)
        if is_pre_layer_norm(config):
            self.LayerNorm = None  # the branch's input was normalised instead
        else:
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.dense(hidden_states)) + input_tensor
        return hidden_states if self.LayerNorm is None else self.LayerNorm(hidden_states)


# Adapted from transformers.models.roberta_prelayernorm.modeling_roberta_prelayernorm.RobertaPreLayerNormAttention:
# with pre-LN the attention branch normalises its input.
class KRElectraKDAttention(nn.Module):
    def __init__(self, config: KRElectraKDConfig, layer_index: int):
        super().__init__()
        self.self = KRElectraKDSelfAttention(config, layer_index)
        self.output = KRElectraKDSelfOutput(config, layer_index)
        if is_pre_layer_norm(config):
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        else:
            self.LayerNorm = None

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        branch_input = hidden_states if self.LayerNorm is None else self.LayerNorm(hidden_states)
        context, attention_probs = self.self(branch_input, attention_mask, output_attentions)
        return self.output(context, hidden_states), attention_probs


# Adapted from transformers.models.electra.modeling_electra.ElectraIntermediate: `dense` may be low-rank, and with
# pre-LN the feed-forward branch normalises its input (as in RobertaPreLayerNormIntermediate).
class KRElectraKDIntermediate(nn.Module):
    """(Pre-LN: a layer norm, then) the first FFN matrix (hidden -> intermediate, low-rank when `ffn_rank` is set) and
    its activation."""

    def __init__(self, config: KRElectraKDConfig, layer_index: int):
        super().__init__()
        if is_pre_layer_norm(config):
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        else:
            self.LayerNorm = None
        rank = config.rank_of(layer_index, "ffn_intermediate")
        self.dense = linear_or_low_rank(config.hidden_size, config.intermediate_size, rank)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.LayerNorm is not None:
            hidden_states = self.LayerNorm(hidden_states)
        return self.intermediate_act_fn(self.dense(hidden_states))


# Adapted from transformers.models.electra.modeling_electra.ElectraOutput: `dense` may be low-rank, and with pre-LN
# the residual sum is left unnormalised (as in RobertaPreLayerNormOutput).
class KRElectraKDOutput(nn.Module):
    """Second FFN matrix (intermediate -> hidden, low-rank when `ffn_rank` is set), dropout, residual, and (post-LN)
    layer norm."""

    def __init__(self, config: KRElectraKDConfig, layer_index: int):
        super().__init__()
        rank = config.rank_of(layer_index, "ffn_output")
        self.dense = linear_or_low_rank(config.intermediate_size, config.hidden_size, rank)
        if is_pre_layer_norm(config):
            self.LayerNorm = None  # the branch's input was normalised instead
        else:
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.dense(hidden_states)) + input_tensor
        return hidden_states if self.LayerNorm is None else self.LayerNorm(hidden_states)


class KRElectraKDLayer(GradientCheckpointingLayer):
    """One encoder layer. As a `GradientCheckpointingLayer` it is recomputed in the backward pass after
    `model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=...)`, with those options."""

    def __init__(self, config: KRElectraKDConfig, layer_index: int):
        super().__init__()
        self.attention = KRElectraKDAttention(config, layer_index)
        self.intermediate = KRElectraKDIntermediate(config, layer_index)
        self.output = KRElectraKDOutput(config, layer_index)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_output, attention_probs = self.attention(hidden_states, attention_mask, output_attentions)
        if not feed_forward_in_chunks(attention_output):
            return self.feed_forward(attention_output), attention_probs
        tokens = attention_output.view(-1, attention_output.shape[-1])
        blocks = [self.feed_forward(block) for block in tokens.split(FEED_FORWARD_CHUNK_TOKENS)]
        return torch.cat(blocks).view_as(attention_output), attention_probs

    def feed_forward(self, attention_output: torch.Tensor) -> torch.Tensor:
        return self.output(self.intermediate(attention_output), attention_output)


class KRElectraKDEncoder(nn.Module):
    """The layers; with pre-LN also the final layer norm (the layers' residual sums are unnormalised), applied to the
    last layer's output, so `last_hidden_state` and the last of `hidden_states` are normalised as after post-LN."""

    def __init__(self, config: KRElectraKDConfig):
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList([KRElectraKDLayer(config, index) for index in range(config.num_hidden_layers)])
        if is_pre_layer_norm(config):
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        else:
            self.LayerNorm = None

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        last_index = len(self.layer) - 1
        for index, layer_module in enumerate(self.layer):
            # Positional arguments: a checkpointed layer (GradientCheckpointingLayer) passes gradients through them.
            hidden_states, attention_probs = layer_module(hidden_states, attention_mask, output_attentions)
            if index == last_index and self.LayerNorm is not None:
                hidden_states = self.LayerNorm(hidden_states)
            if output_hidden_states:
                all_hidden_states = all_hidden_states + (hidden_states,)
            if output_attentions:
                all_attentions = all_attentions + (attention_probs,)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


# Copied from transformers.models.electra.modeling_electra.ElectraDiscriminatorPredictions with Electra->KRElectraKD
class KRElectraKDDiscriminatorPredictions(nn.Module):
    """Prediction module for the discriminator, made up of two dense layers."""

    def __init__(self, config):
        super().__init__()

        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = get_activation(config.hidden_act)
        self.dense_prediction = nn.Linear(config.hidden_size, 1)
        self.config = config

    def forward(self, discriminator_hidden_states):
        hidden_states = self.dense(discriminator_hidden_states)
        hidden_states = self.activation(hidden_states)
        logits = self.dense_prediction(hidden_states).squeeze(-1)

        return logits


# Copied from transformers.models.electra.modeling_electra.ElectraGeneratorPredictions with Electra->KRElectraKD
class KRElectraKDGeneratorPredictions(nn.Module):
    """Prediction module for the generator, made up of two dense layers."""

    def __init__(self, config):
        super().__init__()

        self.activation = get_activation("gelu")
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)

    def forward(self, generator_hidden_states):
        hidden_states = self.dense(generator_hidden_states)
        hidden_states = self.activation(hidden_states)
        hidden_states = self.LayerNorm(hidden_states)

        return hidden_states


class KRElectraKDPreTrainedModel(PreTrainedModel):
    """Weight initialisation, gradient checkpointing and the attention switch shared by every model of the family."""

    config_class = KRElectraKDConfig
    base_model_prefix = "electra"
    supports_gradient_checkpointing = True
    # The attention kernels of transformers' interface, as ELECTRA declares them (see `attention_function`).
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flash_attn_2 = True  # the name transformers 4.x reads
    _supports_flex_attn = True
    _supports_attention_backend = True
    # The heads average their loss over the batch and do not read `num_items_in_batch`, so Trainer must scale the loss
    # for gradient accumulation itself (it would not, seeing `**kwargs` in `forward`).
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, KRElectraKDFactorizedEmbedding):
            return  # a view of `word_embeddings` and `word_embeddings_up`, which are initialised as factors
        std = self.config.initializer_range
        factor_rank = getattr(module, "factor_rank", None)  # set by `mark_as_factor` on the two factors of a matrix
        if factor_rank is not None:
            # Each factor gets std sqrt(s / sqrt(rank)), so their product has the dense layer's std s.
            std = (std / factor_rank**0.5) ** 0.5
        if isinstance(module, nn.Linear):
            module.weight.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.normal_(mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, KRElectraKDEmbeddings):
            module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand((1, -1)))


@dataclass
class KRElectraKDForPreTrainingOutput(ModelOutput):
    """
    Output of [`KRElectraKDForPreTraining`].

    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*, returned when `labels` is provided):
            Replaced-token-detection loss (binary cross-entropy over the non-padding tokens).
        logits (`torch.FloatTensor` of shape `(batch_size, sequence_length)`):
            One score per token; positive means "replaced".
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Embedding output and every layer's output, each `(batch_size, sequence_length, hidden_size)`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            Every layer's attention probabilities, each `(batch_size, num_heads, sequence_length, sequence_length)`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def _wrap_output(return_dict: bool, output_class: type, loss: torch.Tensor | None, outputs: BaseModelOutput, **heads):
    """Build a head's output: the dataclass, or ELECTRA's tuple `(loss?, *heads, hidden_states?, attentions?)`."""
    if not return_dict:
        values = (loss, *heads.values(), outputs.hidden_states, outputs.attentions)
        return tuple(v for v in values if v is not None)
    return output_class(loss=loss, **heads, hidden_states=outputs.hidden_states, attentions=outputs.attentions)


def _extended_attention_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[batch, seq] 1/0 mask -> additive [batch, 1, 1, seq] mask broadcast over heads and query positions."""
    extended = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - extended) * torch.finfo(dtype).min


def attention_mask_for(
    attention_mask: torch.Tensor, dtype: torch.dtype, implementation: str | None, output_attentions: bool
) -> torch.Tensor:
    """The padding mask in the form the chosen kernel reads: flash kernels take the [batch, seq] 1/0 mask (they unpad
    with it); flex attention a `BlockMask`; eager and SDPA an additive [batch, 1, 1, seq] mask; any other
    (user-registered) kernel that mask expanded over query positions, [batch, 1, seq, seq]."""
    if output_attentions or implementation in (None, "eager", "sdpa"):
        return _extended_attention_mask(attention_mask, dtype)
    if "flash" in implementation:
        return attention_mask
    batch_size, seq_length = attention_mask.shape
    if "flex" in implementation:
        from torch.nn.attention.flex_attention import create_block_mask

        keep = attention_mask.bool()
        return create_block_mask(
            lambda batch, head, query, key: keep[batch, key],
            batch_size,
            None,
            seq_length,
            seq_length,
            device=attention_mask.device,
        )
    return _extended_attention_mask(attention_mask, dtype).expand(-1, -1, seq_length, -1).contiguous()


class KRElectraKDModel(KRElectraKDPreTrainedModel):
    """The bare encoder: embeddings (projected to `hidden_size` when `embedding_size` differs) and the layers."""

    def __init__(self, config: KRElectraKDConfig):
        super().__init__(config)
        self.embeddings = KRElectraKDEmbeddings(config)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)
        self.encoder = KRElectraKDEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        """The token embedding as one module from ids to `embedding_size`-wide vectors; with `embedding_rank` set, a
        `KRElectraKDFactorizedEmbedding` over the two factors (whose `weight` is the `vocab x rank` factor)."""
        return self.embeddings.token_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.set_token_embeddings(value)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | BaseModelOutput:
        r"""
        kwargs (`dict`, *optional*):
            Inputs that callers written for other transformers models pass (the heads hand theirs on here). This model
            takes none: they are named in a warning, once, and otherwise ignored.
        """
        if kwargs:
            logger.warning_once(f"{type(self).__name__} ignores these inputs: {', '.join(sorted(kwargs))}.")
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")

        embedding_output = self.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds
        )
        if self.config.embedding_size != self.config.hidden_size:
            embedding_output = self.embeddings_project(embedding_output)

        # The mask is applied whenever given: checking whether it pads anything would read a value on the host,
        # which breaks torch.compile graphs and costs as much as the masking it could skip.
        extended_mask = None
        if attention_mask is not None:
            extended_mask = attention_mask_for(
                attention_mask, embedding_output.dtype, self.config._attn_implementation, output_attentions
            )

        outputs = self.encoder(
            embedding_output,
            attention_mask=extended_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        if not return_dict:
            return tuple(v for v in outputs.to_tuple() if v is not None)
        return outputs


# Adapted from transformers.models.electra.modeling_electra.ElectraClassificationHead: the activation and the pooling
# are configurable.
class KRElectraKDClassificationHead(nn.Module):
    """Sentence-level head on the first ([CLS]) token, or on the mean of the tokens the attention mask keeps
    (`config.classifier_pooling`). ELECTRA uses gelu here; a converted BERT keeps its tanh pooler."""

    def __init__(self, config: KRElectraKDConfig):
        super().__init__()
        classifier_dropout = (
            config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        )
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = get_activation(config.classifier_activation)
        self.dropout = nn.Dropout(classifier_dropout)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)
        self.pooling = config.classifier_pooling

    def forward(self, features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pooling == "mean":
            if attention_mask is None:  # no padding: every position counts
                pooled = features.mean(dim=1)
            else:
                keep = attention_mask.unsqueeze(-1).to(features.dtype)
                pooled = (features * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        else:
            pooled = features[:, 0, :]
        x = self.dropout(pooled)
        x = self.activation(self.dense(x))
        return self.out_proj(self.dropout(x))


class KRElectraKDForSequenceClassification(KRElectraKDPreTrainedModel):
    """Sentence (pair) classification, or regression when `num_labels == 1` (e.g. KorSTS)."""

    def __init__(self, config: KRElectraKDConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = KRElectraKDModel(config)
        self.classifier = KRElectraKDClassificationHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | SequenceClassifierOutput:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.electra(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(outputs.last_hidden_state, attention_mask)

        loss = None
        if labels is not None:
            if self.config.problem_type is None:
                if self.num_labels == 1:
                    self.config.problem_type = "regression"
                elif labels.dtype in (torch.long, torch.int):
                    self.config.problem_type = "single_label_classification"
                else:
                    self.config.problem_type = "multi_label_classification"
            if self.config.problem_type == "regression":
                loss = MSELoss()(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
            elif self.config.problem_type == "single_label_classification":
                loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                loss = BCEWithLogitsLoss()(logits, labels.to(logits.dtype))
        return _wrap_output(return_dict, SequenceClassifierOutput, loss, outputs, logits=logits)


class KRElectraKDForPreTraining(KRElectraKDPreTrainedModel):
    """The ELECTRA discriminator: replaced-token detection. `labels`: 1 for a replaced token, 0 for an original."""

    def __init__(self, config: KRElectraKDConfig):
        super().__init__(config)
        self.electra = KRElectraKDModel(config)
        self.discriminator_predictions = KRElectraKDDiscriminatorPredictions(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | KRElectraKDForPreTrainingOutput:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.electra(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.discriminator_predictions(outputs.last_hidden_state)

        loss = None
        if labels is not None:
            if attention_mask is not None:
                # The mean over real tokens as a masked sum, not ELECTRA's boolean indexing: the same loss, without
                # a data-dependent shape that makes the host wait for the GPU at every step.
                per_token = BCEWithLogitsLoss(reduction="none")(logits, labels.to(logits.dtype))
                active = (attention_mask == 1).to(per_token.dtype)
                loss = (per_token * active).sum() / active.sum()
            else:
                loss = BCEWithLogitsLoss()(logits.reshape(-1), labels.reshape(-1).float())
        return _wrap_output(return_dict, KRElectraKDForPreTrainingOutput, loss, outputs, logits=logits)


class KRElectraKDForMaskedLM(KRElectraKDPreTrainedModel):
    """The ELECTRA generator: masked-language modelling with the output layer tied to the word embeddings.

    With a factorized embedding (`vocab x rank` then `rank -> embedding_size`) the tied output computes
    `h @ up @ E_low^T`, the exact transpose of the factorized input embedding."""

    _tied_weights_keys = {"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}

    def __init__(self, config: KRElectraKDConfig):
        super().__init__(config)
        self.electra = KRElectraKDModel(config)
        self.generator_predictions = KRElectraKDGeneratorPredictions(config)
        self.generator_lm_head = nn.Linear(config.embedding_rank or config.embedding_size, config.vocab_size)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.generator_lm_head

    def prediction_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits for the given hidden states (ELECTRA pre-training calls it on masked positions only)."""
        prediction_scores = self.generator_predictions(hidden_states)
        if self.config.embedding_rank is not None:
            prediction_scores = prediction_scores @ self.electra.embeddings.word_embeddings_up.weight
        return self.generator_lm_head(prediction_scores)

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.generator_lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | MaskedLMOutput:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.electra(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.prediction_logits(outputs.last_hidden_state)

        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.config.vocab_size), labels.view(-1))
        return _wrap_output(return_dict, MaskedLMOutput, loss, outputs, logits=logits)


class KRElectraKDForTokenClassification(KRElectraKDPreTrainedModel):
    """Per-token classification (NER). Label -100 marks positions to ignore (special tokens, continuation pieces)."""

    def __init__(self, config: KRElectraKDConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = KRElectraKDModel(config)
        classifier_dropout = (
            config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        )
        self.dropout = nn.Dropout(classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | TokenClassifierOutput:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.electra(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))

        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
        return _wrap_output(return_dict, TokenClassifierOutput, loss, outputs, logits=logits)


class KRElectraKDForQuestionAnswering(KRElectraKDPreTrainedModel):
    """Extractive QA (KorQuAD): a start and an end logit per token. Served by `pipeline("question-answering",
    trust_remote_code=True)` through pipeline_kr_electra_kd.py, since transformers 5 has no extractive QA pipeline."""

    def __init__(self, config: KRElectraKDConfig):
        super().__init__(config)
        self.num_labels = 2
        self.electra = KRElectraKDModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        """Save as every model does, plus the question-answering pipeline: `config.custom_pipelines` names it and its
        file goes beside the weights (transformers copies only the model's code and what that code imports)."""
        pipeline_file = Path(__file__).with_name(PIPELINE_FILE)
        if pipeline_file.is_file():
            self.config.custom_pipelines = QUESTION_ANSWERING_PIPELINES
        else:  # code loaded with trust_remote_code from a folder whose pipeline was never fetched
            logger.warning(f"{PIPELINE_FILE} is not beside this model's code: the saved folder serves no pipeline.")
            self.config.custom_pipelines = {}
        super().save_pretrained(save_directory, *args, **kwargs)
        if pipeline_file.is_file():
            shutil.copyfile(pipeline_file, Path(save_directory) / PIPELINE_FILE)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.LongTensor | None = None,
        end_positions: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | QuestionAnsweringModelOutput:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.electra(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        start_logits, end_logits = self.qa_outputs(outputs.last_hidden_state).split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()

        loss = None
        if start_positions is not None and end_positions is not None:
            # Answers outside the window (after stride splitting) point at an ignored index.
            ignored_index = start_logits.size(1)
            start_positions = start_positions.view(-1).clamp(0, ignored_index)
            end_positions = end_positions.view(-1).clamp(0, ignored_index)
            loss_fct = CrossEntropyLoss(ignore_index=ignored_index)
            loss = (loss_fct(start_logits, start_positions) + loss_fct(end_logits, end_positions)) / 2
        return _wrap_output(
            return_dict, QuestionAnsweringModelOutput, loss, outputs, start_logits=start_logits, end_logits=end_logits
        )


# transformers' route for custom code: `save_pretrained` copies the code files and writes these classes into auto_map
# (the config class registers itself in configuration_kr_electra_kd.py).
KRElectraKDModel.register_for_auto_class("AutoModel")
KRElectraKDForPreTraining.register_for_auto_class("AutoModelForPreTraining")
KRElectraKDForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")
KRElectraKDForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
KRElectraKDForTokenClassification.register_for_auto_class("AutoModelForTokenClassification")
KRElectraKDForQuestionAnswering.register_for_auto_class("AutoModelForQuestionAnswering")

__all__ = [
    "AUTO_MAP",
    "CODE_FILES",
    "PIPELINE_FILE",
    "KRElectraKDForMaskedLM",
    "KRElectraKDForPreTraining",
    "KRElectraKDForPreTrainingOutput",
    "KRElectraKDForQuestionAnswering",
    "KRElectraKDForSequenceClassification",
    "KRElectraKDForTokenClassification",
    "KRElectraKDFactorizedEmbedding",
    "KRElectraKDLowRankLinear",
    "KRElectraKDModel",
    "KRElectraKDPreTrainedModel",
]
