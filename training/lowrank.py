"""Dense -> low-rank conversion by truncated SVD, and loading any ELECTRA/BERT checkpoint into this family.

`convert_to_low_rank` factorizes each chosen matrix `W (out x in)` as `U_r sqrt(S_r) @ sqrt(S_r) V_r^T`, the best
rank-r approximation in Frobenius norm, and reports each matrix's relative reconstruction error
`||W - W_r||_F / ||W||_F`. Ranks are given per group (embedding, attention, FFN) or found from the spectral energy to
keep. Everything else (layer norms, biases, heads) is copied unchanged.

`from_pretrained_any` loads this family directly, and converts a stock transformers ELECTRA or BERT checkpoint (a Hub
id or a local folder) into the equivalent dense model of this family, heads carried over.

    kr-electra-kd convert --model teacher_dir --output-dir student_lf --preset small-lf-v2
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel

import modeling_kr_electra_kd
from modeling_kr_electra_kd import (
    AUTO_MAP,
    PRESETS,
    KRElectraKDConfig,
    KRElectraKDLowRankLinear,
    KRElectraKDPreTrainedModel,
)
from training.arguments import check_model_source, check_output_dir, overwrite_field, parse_command
from training.head_swap import from_pretrained_with_head_swap_line

# Head name -> the Auto class that loads it; "auto" picks the head from the checkpoint's `architectures`.
HEAD_AUTO_CLASSES: dict[str, str] = {
    "base": "AutoModel",
    "pretraining": "AutoModelForPreTraining",
    "masked-lm": "AutoModelForMaskedLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
}
# Head name -> this family's class, as named in the auto_map every saved folder carries.
HEADS: dict[str, type[KRElectraKDPreTrainedModel]] = {
    head: getattr(modeling_kr_electra_kd, AUTO_MAP[auto_class].split(".")[-1])
    for head, auto_class in HEAD_AUTO_CLASSES.items()
}

# Stock architectures we convert, by the suffix of their class name, and the head they become.
_STOCK_HEADS = {
    "Model": "base",
    "ForPreTraining": "pretraining",
    "ForMaskedLM": "masked-lm",
    "ForSequenceClassification": "sequence-classification",
    "ForTokenClassification": "token-classification",
    "ForQuestionAnswering": "question-answering",
}
SUPPORTED_MODEL_TYPES = ("kr-electra-kd", "electra", "bert")

# Config fields carried from a stock ELECTRA/BERT config (BERT has no embedding_size: it equals hidden_size).
_SHARED_CONFIG_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
    "classifier_dropout",
    "id2label",
    "label2id",
    "problem_type",
)


# --------------------------------------------------------------------------------------------------------------------
# Loading any supported checkpoint
# --------------------------------------------------------------------------------------------------------------------


def head_of(model_or_config: PreTrainedModel | PretrainedConfig) -> str:
    """The head name (a key of HEADS) of a model or of the first architecture named in a config."""
    if isinstance(model_or_config, PreTrainedModel):
        architecture = type(model_or_config).__name__
    else:
        architectures = getattr(model_or_config, "architectures", None) or ["Model"]
        architecture = architectures[0]
    for suffix, head in sorted(_STOCK_HEADS.items(), key=lambda item: -len(item[0])):
        if architecture.endswith(suffix):
            return head
    raise ValueError(
        f"Unsupported architecture {architecture!r}: convertible heads are "
        f"{', '.join('*' + suffix for suffix in _STOCK_HEADS)} of ELECTRA, BERT or KR-ELECTRA-KD."
    )


def _check_head(head: str) -> None:
    if head != "auto" and head not in HEADS:
        raise ValueError(f"Unknown head {head!r}; choose one of: auto, {', '.join(HEADS)}.")


def from_pretrained_any(path_or_id: str | Path, head: str = "auto", **config_overrides) -> KRElectraKDPreTrainedModel:
    """Load a KR-ELECTRA-KD model, or a stock ELECTRA/BERT checkpoint converted (exactly, still dense) into one.

    `head` is one of HEADS or "auto" (the checkpoint's own head). `config_overrides` (e.g. `num_labels=3`,
    `id2label=...`) are applied to the loaded config; a head the checkpoint lacks starts freshly initialised, as with
    `AutoModelFor*.from_pretrained`.
    """
    _check_head(head)
    path_or_id = str(path_or_id)
    if Path(path_or_id).exists() and not (Path(path_or_id) / "config.json").is_file():
        raise ValueError(f"{path_or_id} has no config.json: pass a folder written by save_pretrained, or a Hub id.")
    config = AutoConfig.from_pretrained(path_or_id, trust_remote_code=True)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"{path_or_id} is a {config.model_type!r} checkpoint; supported teachers and students are "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}."
        )
    head = head_of(config) if head == "auto" else head

    if config.model_type == "kr-electra-kd":
        return from_pretrained_with_head_swap_line(HEADS[head], path_or_id, **config_overrides)

    import transformers

    stock_auto = getattr(transformers, HEAD_AUTO_CLASSES[head])
    stock = from_pretrained_with_head_swap_line(stock_auto, path_or_id, **config_overrides)
    return convert_stock_model(stock)


def _config_from_stock(stock_config: PretrainedConfig) -> KRElectraKDConfig:
    fields = {name: getattr(stock_config, name) for name in _SHARED_CONFIG_FIELDS if hasattr(stock_config, name)}
    fields["embedding_size"] = getattr(stock_config, "embedding_size", stock_config.hidden_size)
    if stock_config.model_type == "bert":
        fields["classifier_activation"] = "tanh"  # BERT's pooler
    fields.setdefault("num_labels", getattr(stock_config, "num_labels", 2))
    if "id2label" in fields:
        fields.pop("num_labels")  # implied by id2label
    return KRElectraKDConfig(**fields)


def _stock_key_to_ours(key: str, model_type: str, head: str) -> str | None:
    """Map a stock ELECTRA/BERT weight name to ours; None drops it."""
    if model_type == "electra":
        return key  # same module names (see modeling_kr_electra_kd.py)
    # BERT: encoder prefix, and the pooler (dense + tanh) becomes the classification head's dense layer.
    if key.startswith("bert."):
        key = "electra." + key[len("bert.") :]
    if key.startswith("electra.pooler.") or key.startswith("pooler."):
        if head != "sequence-classification":
            return None
        return "classifier.dense." + key.rsplit(".", 1)[-1]
    if head == "sequence-classification" and key.startswith("classifier."):
        return "classifier.out_proj." + key.rsplit(".", 1)[-1]
    return key


def convert_stock_model(stock: PreTrainedModel) -> KRElectraKDPreTrainedModel:
    """Convert a loaded stock ELECTRA/BERT model into the same, still dense, model of this family (exact)."""
    model_type = stock.config.model_type
    if model_type not in ("electra", "bert"):
        raise ValueError(f"Cannot convert a {model_type!r} model; supported: electra, bert.")
    head = head_of(stock)
    if model_type == "bert" and head in ("pretraining", "masked-lm"):
        raise ValueError(
            f"BERT {type(stock).__name__} has no ELECTRA equivalent head; convert BertModel or a fine-tuned BERT "
            "classification/QA head, or use an ELECTRA generator/discriminator."
        )
    target_class = HEADS[head]
    config = _config_from_stock(stock.config)
    model = target_class(config)

    state = {}
    for key, value in stock.state_dict().items():
        if key.endswith("position_ids") or key.endswith("token_type_ids"):
            continue  # non-persistent buffers
        new_key = _stock_key_to_ours(key, model_type, head)
        if new_key is None:
            continue
        state[new_key] = value
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"Converting {type(stock).__name__} failed: {error}") from None
    missing = [key for key in missing if not key.endswith("generator_lm_head.weight")]  # tied
    if missing or unexpected:
        raise ValueError(
            f"Converting {type(stock).__name__} failed: weights missing {missing[:5]}, unexpected {unexpected[:5]}."
        )
    return model.eval() if not stock.training else model


# --------------------------------------------------------------------------------------------------------------------
# Truncated SVD
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FactorReport:
    """What happened to one matrix."""

    name: str
    shape: tuple[int, int]
    rank: int
    kept_energy: float
    relative_error: float
    params_before: int
    params_after: int


@dataclass
class ConversionReport:
    embedding_rank: int | None
    attention_rank: int | None
    ffn_rank: int | None
    energy: float | None
    params_before: int
    params_after: int
    matrices: list[FactorReport] = field(default_factory=list)

    @property
    def max_relative_error(self) -> float:
        return max((m.relative_error for m in self.matrices), default=0.0)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["max_relative_error"] = self.max_relative_error
        return data

    def to_markdown(self) -> str:
        lines = [
            f"Ranks: embedding={self.embedding_rank}, attention={self.attention_rank}, ffn={self.ffn_rank}"
            + (f" (energy {self.energy})" if self.energy is not None else ""),
            f"Parameters: {self.params_before:,} -> {self.params_after:,}",
            "",
            "| matrix | shape | rank | kept energy | relative error |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {m.name} | {m.shape[0]}x{m.shape[1]} | {m.rank} | {m.kept_energy:.4f} | {m.relative_error:.4f} |"
            for m in self.matrices
        ]
        return "\n".join(lines)


def _dense_weight(module: nn.Module) -> torch.Tensor:
    """The `out x in` weight a (possibly already factorized) linear layer computes."""
    if isinstance(module, KRElectraKDLowRankLinear):
        return module.up.weight @ module.down.weight
    return module.weight


def _svd(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # float64: the full-rank round trip must be exact to well below 1e-4.
    return torch.linalg.svd(weight.detach().double(), full_matrices=False)


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    """Smallest rank whose singular values keep at least `energy` of the squared Frobenius norm."""
    squared = singular_values.double() ** 2
    cumulative = torch.cumsum(squared, 0) / squared.sum()
    return int(torch.searchsorted(cumulative, torch.tensor(energy, dtype=cumulative.dtype) - 1e-12).item()) + 1


def _factor(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Split `weight` into `left (out x r) @ right (r x in)`; return them, the kept energy and relative error."""
    u, s, vh = _svd(weight)
    root = s[:rank].sqrt()
    left = u[:, :rank] * root
    right = root[:, None] * vh[:rank]
    total = (s**2).sum()
    kept = float((s[:rank] ** 2).sum() / total) if total > 0 else 1.0
    return left, right, kept, math.sqrt(max(0.0, 1.0 - kept))


def _group_of(name: str, module: nn.Module) -> str | None:
    """Which rank group a linear layer belongs to, by its place in the encoder. The `down` / `up` factors of an
    already low-rank layer belong to none: the low-rank layer itself is the group's member."""
    if not isinstance(module, (nn.Linear, KRElectraKDLowRankLinear)) or ".encoder.layer." not in f".{name}":
        return None
    if name.rsplit(".", 1)[-1] in ("down", "up"):
        return None
    if ".attention." in f".{name}.":
        return "attention"
    if name.endswith("intermediate.dense") or name.endswith("output.dense"):
        return "ffn"
    return None


def convert_to_low_rank(
    model: KRElectraKDPreTrainedModel,
    embedding_rank: int | None = None,
    attention_rank: int | None = None,
    ffn_rank: int | None = None,
    energy: float | None = None,
) -> tuple[KRElectraKDPreTrainedModel, ConversionReport]:
    """Return a copy of `model` with the chosen matrix groups factorized by truncated SVD, and a per-matrix report.

    Give ranks per group, or `energy` (0 < energy <= 1) to pick, for each group not given a rank, the smallest rank
    that keeps that share of the squared singular values in every matrix of the group. A group with neither stays as
    it is (dense, or at its current rank). Stock ELECTRA/BERT models are converted to this family first.
    """
    if not isinstance(model, KRElectraKDPreTrainedModel):
        if isinstance(model, PreTrainedModel) and model.config.model_type in ("electra", "bert"):
            model = convert_stock_model(model)
        else:
            raise ValueError(
                f"convert_to_low_rank takes a model of this family or a stock ELECTRA/BERT model, got "
                f"{type(model).__name__}."
            )
    if energy is not None and not 0.0 < energy <= 1.0:
        raise ValueError(f"energy must be in (0, 1], the share of spectral energy to keep; got {energy}.")
    if energy is None and embedding_rank is None and attention_rank is None and ffn_rank is None:
        raise ValueError("Give at least one of embedding_rank, attention_rank, ffn_rank, or energy.")

    source_config = model.config
    encoder = model.base_model
    named = dict(encoder.named_modules())
    groups: dict[str, list[tuple[str, nn.Module]]] = {"attention": [], "ffn": []}
    for name, module in named.items():
        group = _group_of(name, module)
        if group is not None:
            groups[group].append((name, module))

    embeddings = encoder.embeddings
    word_matrix = embeddings.word_embeddings.weight
    if hasattr(embeddings, "word_embeddings_up"):
        word_matrix = word_matrix @ embeddings.word_embeddings_up.weight.T

    ranks = {"embedding": embedding_rank, "attention": attention_rank, "ffn": ffn_rank}
    current = {
        "embedding": source_config.embedding_rank,
        "attention": source_config.attention_rank,
        "ffn": source_config.ffn_rank,
    }
    if energy is not None:
        for group, modules in (("embedding", [("embeddings.word_embeddings", word_matrix)]), *groups.items()):
            if ranks[group] is None:
                weights = [m if isinstance(m, torch.Tensor) else _dense_weight(m) for _, m in modules]
                ranks[group] = max(rank_for_energy(_svd(w)[1], energy) for w in weights)

    # Ranks are validated by the config, before any SVD work on the target.
    new_ranks = {group: ranks[group] if ranks[group] is not None else current[group] for group in ranks}
    config_dict = source_config.to_dict()
    config_dict.update(
        embedding_rank=new_ranks["embedding"], attention_rank=new_ranks["attention"], ffn_rank=new_ranks["ffn"]
    )
    for key in ("auto_map", "architectures", "model_type", "transformers_version"):
        config_dict.pop(key, None)
    try:
        target_config = KRElectraKDConfig(**config_dict)
    except ValueError as error:
        raise ValueError(f"Cannot convert: {error}") from None
    target = type(model)(target_config)
    target.load_state_dict(_copy_unfactorized(model.state_dict(), target.state_dict()), strict=False)

    report = ConversionReport(
        embedding_rank=target_config.embedding_rank,
        attention_rank=target_config.attention_rank,
        ffn_rank=target_config.ffn_rank,
        energy=energy,
        params_before=sum(p.numel() for p in model.parameters()),
        params_after=0,
    )
    target_encoder = target.base_model
    target_named = dict(target_encoder.named_modules())
    with torch.no_grad():
        for modules in groups.values():
            for name, module in modules:
                new_module = target_named[name]
                weight = _dense_weight(module)
                bias = module.up.bias if isinstance(module, KRElectraKDLowRankLinear) else module.bias
                if isinstance(new_module, KRElectraKDLowRankLinear):
                    left, right, kept, error = _factor(weight, new_module.rank)
                    new_module.up.weight.copy_(left.to(new_module.up.weight.dtype))
                    new_module.down.weight.copy_(right.to(new_module.down.weight.dtype))
                    new_module.up.bias.copy_(bias)
                    rank, params_after = new_module.rank, new_module.rank * sum(weight.shape)
                else:
                    new_module.weight.copy_(weight)
                    new_module.bias.copy_(bias)
                    rank, kept, error, params_after = min(weight.shape), 1.0, 0.0, weight.numel()
                report.matrices.append(
                    FactorReport(name, tuple(weight.shape), rank, kept, error, weight.numel(), params_after)
                )

        target_embeddings = target_encoder.embeddings
        if target_config.embedding_rank is not None:
            left, right, kept, error = _factor(word_matrix, target_config.embedding_rank)
            target_embeddings.word_embeddings.weight.copy_(left.to(word_matrix.dtype))
            target_embeddings.word_embeddings_up.weight.copy_(right.T.to(word_matrix.dtype))
            report.matrices.insert(
                0,
                FactorReport(
                    "embeddings.word_embeddings",
                    tuple(word_matrix.shape),
                    target_config.embedding_rank,
                    kept,
                    error,
                    word_matrix.numel(),
                    target_config.embedding_rank * sum(word_matrix.shape),
                ),
            )
        else:
            target_embeddings.word_embeddings.weight.copy_(word_matrix)
    if hasattr(target, "generator_lm_head"):
        target.tie_weights()
    report.params_after = sum(p.numel() for p in target.parameters())
    target.train(model.training)
    return target, report


def _copy_unfactorized(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every weight whose name and shape are unchanged (norms, biases of untouched layers, position embeddings,
    heads); factorized matrices are filled by the SVD afterwards."""
    return {key: value for key, value in source.items() if key in target and target[key].shape == value.shape}


# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class ConvertArguments:
    model: str = field(metadata={"help": "Dense model to convert: a folder or Hub id (this family, ELECTRA or BERT)."})
    output_dir: str = field(metadata={"help": "Where to write the low-rank model (a Hub-ready folder)."})
    preset: str | None = field(
        default=None,
        metadata={"help": f"Take the three ranks from a preset ({', '.join(PRESETS)}); explicit ranks override."},
    )
    embedding_rank: int | None = field(default=None, metadata={"help": "Rank of the word-embedding matrix."})
    attention_rank: int | None = field(default=None, metadata={"help": "Rank of Q, K, V and attention output."})
    ffn_rank: int | None = field(default=None, metadata={"help": "Rank of both feed-forward matrices."})
    energy: float | None = field(
        default=None,
        metadata={"help": "Instead of ranks: keep this share (0-1] of each matrix's spectral energy, per group."},
    )
    head: str = field(
        default="auto", metadata={"help": f"Which head to load: auto (the checkpoint's own), {', '.join(HEADS)}."}
    )
    overwrite_output_dir: bool = overwrite_field()


def main(argv: list[str] | None = None) -> int:
    (args,) = parse_command((ConvertArguments,), argv, "kr-electra-kd convert")
    ranks = {"embedding_rank": None, "attention_rank": None, "ffn_rank": None}
    try:
        # a fine-tuned folder's results.json and card would otherwise stay beside the new weights
        check_output_dir(args.output_dir, args.overwrite_output_dir)
        check_model_source(args.model)
        if args.preset is not None:
            if args.preset not in PRESETS:
                raise ValueError(f"Unknown preset {args.preset!r}; choose one of: {', '.join(PRESETS)}.")
            ranks.update({key: PRESETS[args.preset].get(key) for key in ranks})
        ranks.update({key: getattr(args, key) for key in ranks if getattr(args, key) is not None})
        model = from_pretrained_any(args.model, head=args.head)
        converted, report = convert_to_low_rank(model, energy=args.energy, **ranks)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = Path(args.output_dir)
    converted.save_pretrained(output)
    _copy_tokenizer(args.model, output)
    (output / "lowrank_report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    print(report.to_markdown())
    print(f"\nSaved to {output} (max relative reconstruction error {report.max_relative_error:.4f}).")
    return 0


def _copy_tokenizer(model: str, output: Path) -> None:
    """Keep the source's tokenizer beside the converted weights so the folder is complete."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError):
        return
    from training.tokenizer import save_tokenizer

    save_tokenizer(tokenizer, output)


if __name__ == "__main__":
    sys.exit(main())
