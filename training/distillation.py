"""`DistillationTrainer`: knowledge distillation from a frozen teacher as a `Trainer` subclass; and the student it
trains (`build_student`: a preset, initialised randomly, from the teacher's layers or from a trained student by SVD).

The loss is any weighted mix of
- `kl`: soft-target KL divergence between temperature-softened teacher and student outputs, scaled by T^2
  (Hinton et al.); over classes for a task head, over the two outcomes of each token for replaced-token detection;
- `hard`: the student's own loss on the labels (cross-entropy / MSE / RTD), when the batch has labels;
- `hidden`: MSE between mapped student and teacher hidden states, through a learned linear projection when the widths
  differ (TinyBERT);
- `attention`: KL divergence between mapped student and teacher attention distributions (MiniLM / TinyBERT);
- `embedding`: MSE between the embedding outputs (hidden state 0), projected likewise.

With a `generator` (an ELECTRA generator, masked LM), teacher and student read ELECTRA's corrupted text instead of
the clean batch: the collator masks tokens (`labels`), the generator samples a replacement for each, and both models
see the result. Only there does a replaced-token-detection teacher's head say something: on clean text it calls
every token original, and its soft-target KL is about 1e-3.

Student layer i (1-based) is compared with teacher layer `layer_map[i-1]`; by default the teacher's layers are
spread uniformly. Each part is logged on its own (`loss_kl`, `loss_hidden`, ...). With `cache_teacher_outputs`, the
teacher's outputs are computed once per example and reused in later epochs (keyed by the dataset index, so the
dataset must not be reshuffled into new examples): only what the active losses read, on the CPU, up to
`teacher_cache_mb`, and moved back to the student's device for each batch.

The loss is a mean over each batch; Trainer divides it by the gradient accumulation steps. Checkpoints hold the
student and, in `distillation_projections.safetensors`, the projections, so a resumed run continues where it stopped.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_model
from safetensors.torch import load_model as load_safetensors_into
from torch import nn
from transformers import PreTrainedModel, Trainer
from transformers.utils import logging

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDPreTrainedModel, check_preset
from training.defaults import LOSS_PARTS, LOSS_WEIGHTS, RANK_FIELDS
from training.electra_objective import corrupt
from training.loading import HEADS, load_model
from training.lowrank import convert_to_low_rank
from training.tokenizer import save_tokenizer
from training.trainer_common import LossPartsMixin, parse_shape

# Beside the student in each checkpoint: the learned projections, which a resumed run needs.
PROJECTIONS_FILE = "distillation_projections.safetensors"

logger = logging.get_logger(__name__)


@dataclass
class DistillationConfig:
    """What the distillation loss is made of."""

    temperature: float = field(default=2.0, metadata={"help": "Softmax temperature of the soft targets (> 0)."})
    weight_kl: float = field(
        default=LOSS_WEIGHTS["kl"], metadata={"help": "Weight of the soft-target KL loss (x T^2)."}
    )
    weight_hard: float = field(
        default=LOSS_WEIGHTS["hard"], metadata={"help": "Weight of the student's own loss on the labels."}
    )
    weight_hidden: float = field(
        default=LOSS_WEIGHTS["hidden"], metadata={"help": "Weight of the hidden-state MSE loss."}
    )
    weight_attention: float = field(
        default=LOSS_WEIGHTS["attention"], metadata={"help": "Weight of the attention-distribution KL loss."}
    )
    weight_embedding: float = field(
        default=LOSS_WEIGHTS["embedding"], metadata={"help": "Weight of the embedding-output MSE loss."}
    )
    layer_map: list[int] | None = field(
        default=None,
        metadata={
            "help": "Teacher layer (1-based) matched to each student layer, e.g. 3 6 9 12 for a 4-layer student of "
            "a 12-layer teacher. Default: teacher layer ceil(i * T / S) for student layer i (valid for any depths)."
        },
    )
    cache_teacher_outputs: bool = field(
        default=False, metadata={"help": "Compute the teacher's outputs once per example and reuse them each epoch."}
    )
    teacher_cache_mb: float = field(
        default=2048,
        metadata={
            "help": "Most CPU memory (MB) the teacher-output cache may hold; examples past it are recomputed each "
            "epoch. Only the outputs the active losses read are cached (attention maps are the largest)."
        },
    )

    def weights(self) -> dict[str, float]:
        return {part: getattr(self, f"weight_{part}") for part in LOSS_PARTS}

    def validate(self, corrupted_inputs: bool = False) -> None:
        if corrupted_inputs and self.cache_teacher_outputs:
            raise ValueError(
                "Corrupted inputs differ at every step, so the teacher's outputs cannot be cached: drop "
                "--cache_teacher_outputs or --corrupt_inputs."
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}.")
        for part, weight in self.weights().items():
            if weight < 0:
                raise ValueError(f"weight_{part} must be >= 0, got {weight}.")
        if not any(self.weights().values()):
            raise ValueError("All loss weights are 0: give at least one of weight_kl, weight_hard, weight_hidden, ...")


def uniform_layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Student layer i (1..S) -> teacher layer ceil(i * T / S): the last student layer meets the last teacher layer,
    and every entry lies in 1..T for any depths, a student deeper than its teacher included (then consecutive student
    layers share a teacher layer)."""
    return [-(-index * teacher_layers // student_layers) for index in range(1, student_layers + 1)]


def check_layer_map(layer_map: list[int], student_layers: int, teacher_layers: int) -> None:
    if len(layer_map) != student_layers:
        raise ValueError(
            f"layer_map has {len(layer_map)} entries but the student has {student_layers} layers: give one teacher "
            "layer per student layer."
        )
    for index, teacher_layer in enumerate(layer_map, start=1):
        if not 1 <= teacher_layer <= teacher_layers:
            raise ValueError(
                f"layer_map entry {teacher_layer} (for student layer {index}) points outside the teacher's layers "
                f"1..{teacher_layers}."
            )


class DistillationProjections(nn.Module):
    """Learned maps from student width to teacher width: `embedding` for the embedding output (built only for the
    embedding loss) and `layers`, one per student layer (built only for the hidden-state loss). Building only what the
    active losses use keeps every parameter in the loss, which DDP requires. Identity maps when the widths are equal.
    Trained with the student, saved in each checkpoint beside it, and dropped from the final model."""

    def __init__(
        self, student_width: int, teacher_width: int, student_layers: int, embedding: bool = True, layers: bool = True
    ):
        super().__init__()
        make = nn.Linear if student_width != teacher_width else (lambda *_: nn.Identity())
        self.embedding = make(student_width, teacher_width) if embedding else None
        self.layers = (
            nn.ModuleList([make(student_width, teacher_width) for _ in range(student_layers)]) if layers else None
        )


class StudentWithProjections(nn.Module):
    """The student plus its projections, so one optimizer trains both; `save_pretrained` saves the student alone."""

    # `forward(**inputs)` would make Trainer believe the model divides its loss by `num_items_in_batch` itself and
    # skip dividing by the gradient accumulation steps; the loss here is `DistillationTrainer.compute_loss`'s batch mean.
    accepts_loss_kwargs = False

    def __init__(self, student: PreTrainedModel, projections: DistillationProjections):
        super().__init__()
        self.student = student
        self.projections = projections
        self.config = student.config

    def forward(self, output_hidden_states: bool = True, output_attentions: bool = True, **inputs):
        return self.student(
            **inputs, output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True
        )

    def save_pretrained(self, *args, **kwargs):
        return self.student.save_pretrained(*args, **kwargs)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over tokens where mask is 1 (values: [batch, seq, ...])."""
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    while mask.dim() < values.dim():
        mask = mask.unsqueeze(-1)
    weight = mask.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp(min=1.0)


def _soft_kl(student_logits, teacher_logits, temperature: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """KL(teacher || student) of temperature-softened distributions over the last axis, times T^2; averaged over the
    other axes (only where `mask` is 1, when given). The one soft-target KL every head's loss goes through."""
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(student_log_probs, teacher_log_probs, log_target=True, reduction="none").sum(-1)
    return _masked_mean(kl, mask) * temperature**2


def soft_target_kl(student_logits, teacher_logits, temperature: float, attention_mask=None) -> torch.Tensor:
    """Soft-target KL for any head: class logits [B, C], token logits [B, L, C], QA start/end [B, L] (over tokens) or
    replaced-token detection [B, L] (one logit per token: two outcomes, replaced or not)."""
    if isinstance(student_logits, tuple):  # QA: start and end distributions over positions, padding excluded
        total = 0.0
        for student_part, teacher_part in zip(student_logits, teacher_logits):
            if attention_mask is not None:
                padding = attention_mask == 0
                student_part = student_part.masked_fill(padding, -1e4)
                teacher_part = teacher_part.masked_fill(padding, -1e4)
            total = total + _soft_kl(student_part, teacher_part, temperature)
        return total / len(student_logits)
    if student_logits.dim() == 2 and attention_mask is not None and student_logits.shape == attention_mask.shape:
        # RTD: one logit per token -> the two-outcome distribution [not replaced, replaced]
        student_two = torch.stack([torch.zeros_like(student_logits), student_logits], dim=-1)
        teacher_two = torch.stack([torch.zeros_like(teacher_logits), teacher_logits], dim=-1)
        return _soft_kl(student_two, teacher_two, temperature, attention_mask)
    if student_logits.dim() == 3 and attention_mask is not None:  # per-token classes
        return _soft_kl(student_logits, teacher_logits, temperature, attention_mask)
    if student_logits.shape[-1] == 1:  # regression: match the teacher's prediction
        return F.mse_loss(student_logits, teacher_logits)
    return _soft_kl(student_logits, teacher_logits, temperature)


def _head_logits(outputs):
    if getattr(outputs, "start_logits", None) is not None:
        return outputs.start_logits, outputs.end_logits
    return outputs.logits


def attention_kl(student_attention: torch.Tensor, teacher_attention: torch.Tensor, attention_mask) -> torch.Tensor:
    """KL between attention distributions, averaged over heads; heads are averaged first when their counts differ."""
    if student_attention.shape[1] != teacher_attention.shape[1]:
        student_attention = student_attention.mean(1, keepdim=True)
        teacher_attention = teacher_attention.mean(1, keepdim=True)
    eps = 1e-12
    kl = (teacher_attention * ((teacher_attention + eps).log() - (student_attention + eps).log())).sum(-1)
    kl = kl.mean(1)  # over heads -> [batch, query]
    return _masked_mean(kl, attention_mask)


class DistillationTrainer(LossPartsMixin, Trainer):
    """A `Trainer` whose loss is distillation from `teacher` (frozen, eval mode, no gradients).

    `model` is the student (this family or any model that returns hidden states and attentions); the Trainer trains
    it together with the projections it needs. Works for task-agnostic distillation (pre-training heads on unlabeled
    text) and task-specific distillation (a fine-tuned teacher's task logits, with or without labels).
    """

    # compute_loss returns a per-batch mean: Trainer must divide it by the gradient accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args,
        teacher: nn.Module,
        distillation: DistillationConfig | None = None,
        generator: nn.Module | None = None,
        **kwargs,
    ):
        self.distillation = distillation or DistillationConfig()
        self.distillation.validate(corrupted_inputs=generator is not None)
        student = kwargs.pop("model", None) if "model" in kwargs else args[0]
        args = args[1:] if "model" not in kwargs and args else args
        student_config, teacher_config = student.config, teacher.config
        student_layers, teacher_layers = student_config.num_hidden_layers, teacher_config.num_hidden_layers
        layer_map = self.distillation.layer_map or uniform_layer_map(student_layers, teacher_layers)
        check_layer_map(layer_map, student_layers, teacher_layers)
        self.layer_map = layer_map
        weights = self.distillation.weights()
        projections = DistillationProjections(
            student_config.hidden_size,
            teacher_config.hidden_size,
            student_layers,
            embedding=weights["embedding"] > 0,
            layers=weights["hidden"] > 0,
        )
        training_args = kwargs.get("args", args[0] if args else None)
        if training_args is not None and not weights["kl"]:
            # Without the soft-target loss the student's head (and, for attention-only losses, its last feed-forward
            # layer) gets no gradient: under DDP that is an error unless DDP looks for unused parameters.
            training_args.ddp_find_unused_parameters = True
        super().__init__(StudentWithProjections(student, projections), *args, **kwargs)
        # Trainer keeps the dataset columns the model's forward accepts: the student's, not the wrapper's **inputs.
        self._signature_columns = [
            *inspect.signature(student.forward).parameters,
            "label",
            "label_ids",
            "example_index",
        ]
        self.teacher = teacher.eval().requires_grad_(False).to(self.args.device)
        self.generator = None if generator is None else generator.eval().requires_grad_(False).to(self.args.device)
        self._teacher_cache: dict[int, dict] = {}
        self._teacher_cache_bytes = 0

    @property
    def student(self) -> PreTrainedModel:
        return self.accelerator.unwrap_model(self.model).student

    def _needed_teacher_layers(self) -> tuple[set[int], set[int]]:
        """Indices of the teacher's hidden states and attention maps that the active losses read."""
        weights = self.distillation.weights()
        hidden = set(self.layer_map) if weights["hidden"] else set()
        if weights["embedding"]:
            hidden.add(0)
        attentions = {t - 1 for t in self.layer_map} if weights["attention"] else set()
        return hidden, attentions

    def _teacher_outputs(self, inputs: dict[str, torch.Tensor]) -> dict:
        """The teacher outputs the active losses read (others are None), on the batch's device."""
        model_inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        device = model_inputs["input_ids"].device
        indices = inputs.get("example_index")
        caching = self.distillation.cache_teacher_outputs and indices is not None
        if caching:
            keys = indices.tolist()
            if all(key in self._teacher_cache for key in keys):
                rows = [self._teacher_cache[key] for key in keys]
                return _stack_cached(rows, model_inputs["input_ids"].shape[1], device)
        hidden, attentions = self._needed_teacher_layers()
        with torch.no_grad():
            outputs = self.teacher(
                **model_inputs,
                output_hidden_states=bool(hidden),
                output_attentions=bool(attentions),
                return_dict=True,
            )
        result = {
            "logits": _head_logits(outputs) if self.distillation.weights()["kl"] else None,
            "hidden_states": _keep(outputs.hidden_states, hidden),
            "attentions": _keep(outputs.attentions, attentions),
        }
        if caching:
            self._cache_rows(result, keys, model_inputs)
        return result

    def _cache_rows(self, result: dict, keys: list[int], model_inputs: dict) -> None:
        """Keep each example's teacher outputs on the CPU, up to `teacher_cache_mb`; past it, later examples are
        recomputed every epoch (one warning says so)."""
        limit = self.distillation.teacher_cache_mb * 2**20
        seq_len = model_inputs["input_ids"].shape[1]
        lengths = model_inputs["attention_mask"].sum(-1).tolist()
        for row, (key, length) in enumerate(zip(keys, lengths)):
            if key in self._teacher_cache or self._teacher_cache_bytes > limit:
                continue
            entry = _slice_row(result, row, int(length), seq_len)
            size = _entry_bytes(entry)
            if self._teacher_cache_bytes + size > limit:
                self._teacher_cache_bytes = limit + 1  # full: stop trying
                logger.warning(
                    f"The teacher-output cache reached teacher_cache_mb={self.distillation.teacher_cache_mb:g} after "
                    f"{len(self._teacher_cache)} examples; the others are recomputed each epoch (raise "
                    "--teacher_cache_mb to cache more)."
                )
                return
            self._teacher_cache[key] = entry
            self._teacher_cache_bytes += size

    def corrupt(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """ELECTRA's corruption of a masked batch (`electra_objective.corrupt`, as in pre-training); the labels are
        dropped (the student learns from the teacher, not from them)."""
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        with torch.no_grad():
            corruption = corrupt(
                self.generator, inputs["input_ids"], labels, inputs.get("attention_mask"), inputs.get("token_type_ids")
            )
        inputs["input_ids"] = corruption.input_ids
        return inputs

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = self.corrupt(inputs) if self.generator is not None else dict(inputs)
        teacher = self._teacher_outputs(inputs)
        inputs.pop("example_index", None)
        has_labels = any(key in inputs for key in ("labels", "start_positions"))
        weights = self.distillation.weights()
        # Attention maps only when a loss reads them: asking for maps takes the eager attention path, not the fused SDPA
        # kernels (flash / memory-efficient on a GPU).
        outputs = model(
            **inputs,
            output_attentions=bool(weights["attention"]),
            output_hidden_states=bool(weights["hidden"] or weights["embedding"]),
        )
        attention_mask = inputs.get("attention_mask")
        projections = self.accelerator.unwrap_model(model).projections
        parts: dict[str, torch.Tensor] = {}

        if weights["kl"]:
            parts["kl"] = soft_target_kl(
                _head_logits(outputs), teacher["logits"], self.distillation.temperature, attention_mask
            )
        if weights["hard"] and has_labels and outputs.loss is not None:
            parts["hard"] = outputs.loss
        if weights["hidden"]:
            losses = [
                hidden_mse(
                    projections.layers[i](outputs.hidden_states[i + 1]), teacher["hidden_states"][t], attention_mask
                )
                for i, t in enumerate(self.layer_map)
            ]
            parts["hidden"] = torch.stack(losses).mean()
        if weights["attention"]:
            losses = [
                attention_kl(outputs.attentions[i], teacher["attentions"][t - 1], attention_mask)
                for i, t in enumerate(self.layer_map)
            ]
            parts["attention"] = torch.stack(losses).mean()
        if weights["embedding"]:
            parts["embedding"] = hidden_mse(
                projections.embedding(outputs.hidden_states[0]), teacher["hidden_states"][0], attention_mask
            )
        if not parts:
            raise ValueError("No loss part applies to this batch (weight_hard needs labels).")
        loss = sum(weights[name] * value for name, value in parts.items())

        if model.training:
            self.record_loss_parts(parts)
        return (loss, outputs) if return_outputs else loss

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        # The student as a Hub-ready folder (with its code files), and beside it the projections, which a resumed run
        # needs (the optimizer state in the checkpoint covers them too).
        output_dir = output_dir or self.args.output_dir
        self.student.save_pretrained(output_dir)
        if self.processing_class is not None:
            save_tokenizer(self.processing_class, output_dir)
        projections = self.accelerator.unwrap_model(self.model).projections
        if any(True for _ in projections.parameters()):
            save_model(projections, str(Path(output_dir) / PROJECTIONS_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        state = load_file(f"{resume_from_checkpoint}/model.safetensors")
        missing, unexpected = self.student.load_state_dict(state, strict=False)
        missing = [key for key in missing if not key.endswith("generator_lm_head.weight")]
        if missing or unexpected:
            raise ValueError(f"Checkpoint {resume_from_checkpoint} does not match the student: {missing[:3]}")
        self.check_resumable(resume_from_checkpoint)
        projections = self.accelerator.unwrap_model(self.model).projections
        if any(True for _ in projections.parameters()):
            load_safetensors_into(projections, str(Path(resume_from_checkpoint) / PROJECTIONS_FILE))

    def check_resumable(self, checkpoint: str | None) -> None:
        """Refuse, before training starts, a checkpoint without the projections this run trains (one written before
        checkpoints carried them): resuming would restart them while the optimizer kept their state."""
        projections = self.accelerator.unwrap_model(self.model).projections
        needed = any(True for _ in projections.parameters())
        if checkpoint is not None and needed and not (Path(checkpoint) / PROJECTIONS_FILE).is_file():
            raise ValueError(
                f"Checkpoint {checkpoint} has no {PROJECTIONS_FILE} (the hidden-state projections): resuming would "
                "restart them; start a new run in another --output_dir (or pass --overwrite_output_dir)."
            )


def hidden_mse(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask) -> torch.Tensor:
    """Mean squared difference over the non-padding tokens (student hidden states already projected)."""
    return _masked_mean((student_hidden - teacher_hidden).pow(2), attention_mask)


def _keep(layers: tuple | None, wanted: set[int]) -> tuple | None:
    """`layers` with the entries no loss reads replaced by None (nothing else is cached or kept alive)."""
    if not wanted or layers is None:
        return None
    return tuple(layer if index in wanted else None for index, layer in enumerate(layers))


def _entry_bytes(entry) -> int:
    """Bytes held by the tensors in a (nested) cache entry."""
    if isinstance(entry, torch.Tensor):
        return entry.numel() * entry.element_size()
    if isinstance(entry, dict):
        return sum(_entry_bytes(value) for value in entry.values())
    if isinstance(entry, (tuple, list)):
        return sum(_entry_bytes(value) for value in entry)
    return 0  # None (an output no loss reads) or the token-level flag


def _slice_row(result: dict, row: int, length: int, seq_len: int) -> dict:
    """One example's teacher outputs without padding, on the CPU (for the cache): (tensor, is_token_level) pairs,
    None where no loss reads the output. Token-level tensors (hidden states, per-token logits) are cut to the
    example's length; attention maps on both axes."""

    def cut(tensor: torch.Tensor | None) -> tuple[torch.Tensor, bool] | None:
        if tensor is None:
            return None
        if tensor.dim() == 4:  # attention [batch, heads, query, key]
            return tensor[row, :, :length, :length].detach().cpu(), True
        if tensor.dim() >= 2 and tensor.shape[1] == seq_len:
            return tensor[row, :length].detach().cpu(), True
        return tensor[row].detach().cpu(), False

    logits = result["logits"]
    out: dict = {"logits": tuple(cut(part) for part in logits) if isinstance(logits, tuple) else cut(logits)}
    for key in ("hidden_states", "attentions"):
        layers = result[key]
        out[key] = None if layers is None else tuple(cut(layer) for layer in layers)
    return out


def _stack_cached(rows: list[dict], length: int, device: torch.device) -> dict:
    """Re-pad cached rows to this batch's length, stack them and move them to `device` (the student's: the batch's)
    (padding positions are masked in every loss)."""

    def pad(entry: tuple[torch.Tensor, bool]) -> torch.Tensor:
        value, token_level = entry
        if not token_level:
            return value
        missing = length - value.shape[-2 if value.dim() == 3 else 0]
        if value.dim() == 3:  # attention [heads, query, key]
            return F.pad(value, (0, missing, 0, missing))
        return F.pad(value, (0, 0) * (value.dim() - 1) + (0, missing))

    def stack(entries):
        if entries[0] is None:
            return None
        return torch.stack([pad(entry) for entry in entries]).to(device, non_blocking=True)

    first = rows[0]
    out: dict = {}
    if first["logits"] is not None and isinstance(first["logits"][0], tuple):  # QA: (start, end)
        out["logits"] = tuple(stack([row["logits"][i] for row in rows]) for i in range(len(first["logits"])))
    else:
        out["logits"] = stack([row["logits"] for row in rows])
    for key in ("hidden_states", "attentions"):
        layers = first[key]
        out[key] = None if layers is None else tuple(stack([row[key][i] for row in rows]) for i in range(len(layers)))
    return out


def load_generator(source: str, teacher_config) -> KRElectraKDPreTrainedModel:
    """The generator, as a masked LM of this family, checked against the teacher's vocabulary."""
    generator = load_model(source, head="masked-lm", flag="--generator")
    if generator.config.vocab_size != teacher_config.vocab_size:
        raise ValueError(
            f"--generator {source} has a {generator.config.vocab_size}-token vocabulary and the teacher "
            f"{teacher_config.vocab_size}: it must be the teacher's own generator (same tokenizer)."
        )
    return generator


def student_config(preset: str, shape: str | None, teacher_config, tokenizer, task) -> KRElectraKDConfig:
    """The student's config: `preset` with `shape`'s overrides, the teacher's vocabulary and positions, and `task`'s
    labels when there is one."""
    check_preset(preset, "student preset")
    overrides = {"vocab_size": teacher_config.vocab_size, "pad_token_id": tokenizer.pad_token_id}
    overrides["max_position_embeddings"] = teacher_config.max_position_embeddings
    if task is not None:
        overrides["num_labels"] = task.num_labels
        if task.id2label:
            overrides.update(id2label=task.id2label, label2id=task.label2id)
    return KRElectraKDConfig.from_preset(preset, **{**overrides, **parse_shape(shape)})


def _init_from_teacher_layers(student: KRElectraKDPreTrainedModel, teacher, layer_map: list[int]) -> None:
    """Copy the teacher's embeddings and its mapped layers into a student of the same widths."""
    student_base, teacher_base = student.base_model, teacher.base_model
    if student.config.hidden_size != teacher.config.hidden_size or student.config.is_low_rank:
        raise ValueError(
            "--student_init teacher-layers needs a dense student as wide as the teacher (hidden_size "
            f"{teacher.config.hidden_size}); this student has hidden_size {student.config.hidden_size}. Use random "
            "initialisation, or distil a dense student first and pass its folder."
        )
    student_base.embeddings.load_state_dict(teacher_base.embeddings.state_dict())
    if hasattr(teacher_base, "embeddings_project") and hasattr(student_base, "embeddings_project"):
        student_base.embeddings_project.load_state_dict(teacher_base.embeddings_project.state_dict())
    for index, teacher_layer in enumerate(layer_map):
        student_base.encoder.layer[index].load_state_dict(teacher_base.encoder.layer[teacher_layer - 1].state_dict())


def build_student(
    teacher, tokenizer, head: str, task, preset: str, shape: str | None = None, init: str = "random"
) -> tuple[KRElectraKDPreTrainedModel, dict]:
    """The student model (`preset` + `shape`, with `head`; `init`: random, teacher-layers, or a folder/Hub id of a
    trained student, converted by SVD to the preset's ranks when they differ) and a note of how it was initialised."""
    config = student_config(preset, shape, teacher.config, tokenizer, task)
    if init in ("random", "teacher-layers"):
        student = HEADS[head](config)
        if init == "teacher-layers":
            _init_from_teacher_layers(
                student, teacher, uniform_layer_map(config.num_hidden_layers, teacher.config.num_hidden_layers)
            )
        return student, {"init": init}
    overrides = {}
    if task is not None:
        overrides = {"num_labels": task.num_labels}
        if task.id2label:
            overrides.update(id2label=task.id2label, label2id=task.label2id)
    student = load_model(init, head=head, flag="--student_init", **overrides)
    wanted = {name: getattr(config, name) for name in RANK_FIELDS}
    current = {name: getattr(student.config, name) for name in RANK_FIELDS}
    note = {"init": init}
    if wanted != current:
        changed = {name: value for name, value in wanted.items() if value != current[name] and value is not None}
        if changed:
            student, report = convert_to_low_rank(student, **changed)
            note["svd"] = {"ranks": changed, "max_relative_error": report.max_relative_error}
    return student, note
