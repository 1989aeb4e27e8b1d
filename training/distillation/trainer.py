"""`DistillationTrainer`: knowledge distillation from a frozen teacher as a `Trainer` subclass.

The loss is the weighted sum of the registered losses (`losses.LOSSES`) whose weight is above 0; each is logged on
its own (`loss_kl`, `loss_hidden`, ...). What the models output, what the teacher-output cache holds and which
projections are trained follow from what the active losses read.

With a `generator` (an ELECTRA generator, masked LM), teacher and student read ELECTRA's corrupted text instead of
the clean batch: the collator masks tokens (`labels`), the generator samples a replacement for each, and both models
see the result. Only there does a replaced-token-detection teacher's head say something: on clean text it calls
every token original.

Student layer i (1-based) is compared with teacher layer `layer_map[i-1]`; by default the teacher's layers are
spread uniformly. With `cache_teacher_outputs`, the teacher's outputs are computed once per example (`TeacherCache`).

The loss is a mean over each batch; Trainer divides it by the gradient accumulation steps. Checkpoints hold the
student and, in `distillation_projections.safetensors`, the projections, so a resumed run continues where it stopped.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_model
from safetensors.torch import load_model as load_safetensors_into
from torch import nn
from transformers import PreTrainedModel, Trainer

from training.distillation.cache import TeacherCache
from training.distillation.config import DistillationConfig
from training.distillation.losses import (
    ATTENTIONS,
    CLASSIFICATION,
    EMBEDDING,
    HIDDEN_STATES,
    LOGITS,
    LOSSES,
    PROJECTED,
    QKV,
    REGRESSION,
    REPLACED_TOKEN_DETECTION,
    LossBatch,
    head_logits,
)
from training.distillation.projections import PROJECTIONS_FILE, DistillationProjections, StudentWithProjections
from training.distillation.students import check_layer_map, uniform_layer_map
from training.electra_objective import corrupt
from training.loading import head_of
from training.tokenizer import save_tokenizer
from training.trainer_common import LossPartsMixin

# The projections of query, key and value in an attention layer, by module name (this family, ELECTRA and BERT).
QKV_MODULES = ("query", "key", "value")


def head_kind(model: PreTrainedModel) -> str:
    """The head kind (losses.HEAD_KINDS) of a model, from its class: a sequence classifier with one output is a
    regression head, as in transformers."""
    head = head_of(model)
    if head == "pretraining":
        return REPLACED_TOKEN_DETECTION
    if head == "sequence-classification":
        return REGRESSION if model.config.num_labels == 1 else CLASSIFICATION
    return head


@contextmanager
def capture_qkv(model: nn.Module, layers: list[int]):
    """Within the block, the yielded dict fills with layer index (0-based) -> (query, key, value) outputs, each
    [batch, seq, width], of the encoder layers `layers` at each forward.

    This family's attention computes low-rank Q, K and V fused (`project_qkv`: their query / key / value modules
    never run their own forward), so there the method's result is recorded; any other model (a stock ELECTRA or BERT
    teacher) through forward hooks on the modules named query / key / value inside the layer."""
    states: dict[int, dict[str, torch.Tensor]] = {}
    encoder_layers = model.base_model.encoder.layer
    undo = []
    for index in layers:
        fused = [module for module in encoder_layers[index].modules() if hasattr(module, "project_qkv")]
        if fused:
            attention, original = fused[0], fused[0].project_qkv

            def recording(hidden_states, index=index, original=original):
                projected = original(hidden_states)
                states[index] = dict(zip(QKV_MODULES, projected))
                return projected

            attention.project_qkv = recording  # an instance attribute: deleting it restores the class's method
            undo.append(lambda attention=attention: delattr(attention, "project_qkv"))
            continue
        for name, module in encoder_layers[index].named_modules():
            kind = name.rsplit(".", 1)[-1]
            if kind in QKV_MODULES:

                def hook(_module, _inputs, output, index=index, kind=kind):
                    states.setdefault(index, {})[kind] = output

                undo.append(module.register_forward_hook(hook).remove)
    captured: dict[int, tuple] = {}
    try:
        yield captured
    finally:
        for restore in undo:
            restore()
        captured.update({index: tuple(found[kind] for kind in QKV_MODULES) for index, found in states.items()})


class DistillationTrainer(LossPartsMixin, Trainer):
    """A `Trainer` whose loss is distillation from `teacher` (frozen, eval mode, no gradients).

    `model` is the student (this family or any model that returns hidden states and attentions); the Trainer trains
    it together with the projections it needs. `head`: the head kind the soft-target loss compares (losses.HEAD_KINDS;
    default: the student's, from its class). Works for task-agnostic distillation (pre-training heads on unlabeled
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
        head: str | None = None,
        **kwargs,
    ):
        self.distillation = distillation or DistillationConfig()
        self.distillation.validate(corrupted_inputs=generator is not None)
        student = kwargs.pop("model", None) if "model" in kwargs else args[0]
        args = args[1:] if "model" not in kwargs and args else args
        self.head = head or head_kind(student)
        student_layers = student.config.num_hidden_layers
        teacher_layers = teacher.config.num_hidden_layers
        self.layer_map = self.distillation.layer_map or uniform_layer_map(student_layers, teacher_layers)
        check_layer_map(self.layer_map, student_layers, teacher_layers)
        needs = self.distillation.needs()
        projections = DistillationProjections(
            student.config.hidden_size,
            teacher.config.hidden_size,
            student_layers,
            **{projection: need in needs for need, projection in PROJECTED.items()},
        )
        training_args = kwargs.get("args", args[0] if args else None)
        if training_args is not None and LOGITS not in needs:
            # Without the soft-target loss the student's head (and, for attention-only losses, its last feed-forward
            # layer) gets no gradient: under DDP that is an error unless DDP looks for unused parameters.
            training_args.ddp_find_unused_parameters = True
        super().__init__(StudentWithProjections(student, projections), *args, **kwargs)
        # The teacher reads every input column, `example_index` keys the teacher cache, and the wrapper's
        # forward(**inputs) names no column: Trainer must pass the batch as the collator made it.
        self.args.remove_unused_columns = False
        self.teacher = teacher.eval().requires_grad_(False).to(self.args.device)
        self.generator = None if generator is None else generator.eval().requires_grad_(False).to(self.args.device)
        self.teacher_cache = TeacherCache(self.distillation.teacher_cache_mb)

    @property
    def student(self) -> PreTrainedModel:
        return self.accelerator.unwrap_model(self.model).student

    def needed_teacher_layers(self) -> tuple[set[int], set[int]]:
        """Indices of the teacher's hidden states and attention maps that the active losses read."""
        needs = self.distillation.needs()
        hidden = set(self.layer_map) if HIDDEN_STATES in needs else set()
        if EMBEDDING in needs:
            hidden.add(0)
        attentions = {t - 1 for t in self.layer_map} if ATTENTIONS in needs else set()
        return hidden, attentions

    def teacher_outputs(self, inputs: dict[str, torch.Tensor]) -> dict:
        """The teacher outputs the active losses read (others are None), on the batch's device: `logits`,
        `hidden_states`, `attentions` and, when a loss reads them, `qkv` (layer index -> query, key, value)."""
        model_inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        indices = inputs.get("example_index")
        caching = self.distillation.cache_teacher_outputs and indices is not None
        if caching:
            cached = self.teacher_cache.batch(
                indices.tolist(), model_inputs["input_ids"].shape[1], model_inputs["input_ids"].device
            )
            if cached is not None:
                return cached
        hidden, attentions = self.needed_teacher_layers()
        needs = self.distillation.needs()
        qkv_layers = [t - 1 for t in self.layer_map] if QKV in needs else []
        with torch.no_grad(), capture_qkv(self.teacher, qkv_layers) as qkv:
            outputs = self.teacher(
                **model_inputs, output_hidden_states=bool(hidden), output_attentions=bool(attentions), return_dict=True
            )
        result = {
            "logits": head_logits(outputs) if LOGITS in needs else None,
            "hidden_states": _keep(outputs.hidden_states, hidden),
            "attentions": _keep(outputs.attentions, attentions),
        }
        if caching:
            self.teacher_cache.add(result, indices.tolist(), model_inputs["attention_mask"])
        return {**result, "qkv": qkv}

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
        teacher = self.teacher_outputs(inputs)
        inputs.pop("example_index", None)
        needs = self.distillation.needs()
        # Attention maps only when a loss reads them: asking for maps takes the eager attention path, not the fused SDPA
        # kernels (flash / memory-efficient on a GPU).
        qkv_layers = list(range(len(self.layer_map))) if QKV in needs else []
        with capture_qkv(self.student, qkv_layers) as student_qkv:
            outputs = model(
                **inputs,
                output_attentions=ATTENTIONS in needs,
                output_hidden_states=bool(needs & {HIDDEN_STATES, EMBEDDING}),
            )
        batch = LossBatch(
            student=outputs,
            teacher=teacher,
            attention_mask=inputs.get("attention_mask"),
            layer_map=self.layer_map,
            projections=self.accelerator.unwrap_model(model).projections,
            temperature=self.distillation.temperature,
            head=self.head,
            teacher_config=self.teacher.config,
            student_qkv=student_qkv,
            teacher_qkv=teacher["qkv"],
        )
        weights = self.distillation.active()
        parts = {name: LOSSES[name].compute(batch) for name in weights}
        parts = {name: value for name, value in parts.items() if value is not None}
        if not parts:
            raise ValueError("No loss part applies to this batch (weight_hard needs labels).")
        loss = sum(weights[name] * value for name, value in parts.items())
        if model.training:
            self.record_loss_parts(parts)
        return (loss, outputs) if return_outputs else loss

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """The student as a Hub-ready folder (with its code files), and beside it the projections, which a resumed
        run needs (the optimizer state in the checkpoint covers them too). Trainer saves each checkpoint through this
        public method; the wrapper is no PreTrainedModel, so Trainer's own saving would write its state dict."""
        if not self.args.should_save:
            return
        output_dir = output_dir or self.args.output_dir
        self.student.save_pretrained(output_dir)
        if self.processing_class is not None:
            save_tokenizer(self.processing_class, output_dir)
        projections = self.accelerator.unwrap_model(self.model).projections
        if projections.has_parameters():
            save_model(projections, str(Path(output_dir) / PROJECTIONS_FILE))

    # A private Trainer method, overridden because no public hook loads a checkpoint on resume: the checkpoint holds
    # the student's own weights (keys without the wrapper's `student.` prefix, as save_model writes them) and the
    # projections in their own file. Written against `Trainer._load_from_checkpoint(self, resume_from_checkpoint:
    # str, model: torch.nn.Module | None = None) -> None`; tests/test_distillation.py fails when that signature changes.
    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        state = load_file(f"{resume_from_checkpoint}/model.safetensors")
        missing, unexpected = self.student.load_state_dict(state, strict=False)
        missing = [key for key in missing if not key.endswith("generator_lm_head.weight")]
        if missing or unexpected:
            raise ValueError(f"Checkpoint {resume_from_checkpoint} does not match the student: {missing[:3]}")
        self.check_resumable(resume_from_checkpoint)
        projections = self.accelerator.unwrap_model(self.model).projections
        if projections.has_parameters():
            load_safetensors_into(projections, str(Path(resume_from_checkpoint) / PROJECTIONS_FILE))

    def check_resumable(self, checkpoint: str | None) -> None:
        """Refuse, before training starts, a checkpoint without the projections this run trains (one written before
        checkpoints carried them): resuming would restart them while the optimizer kept their state."""
        needed = self.accelerator.unwrap_model(self.model).projections.has_parameters()
        if checkpoint is not None and needed and not (Path(checkpoint) / PROJECTIONS_FILE).is_file():
            raise ValueError(
                f"Checkpoint {checkpoint} has no {PROJECTIONS_FILE} (the hidden-state projections): resuming would "
                "restart them; start a new run in another --output_dir (or pass --overwrite_output_dir)."
            )


def _keep(layers: tuple | None, wanted: set[int]) -> tuple | None:
    """`layers` with the entries no loss reads replaced by None (nothing else is cached or kept alive)."""
    if not wanted or layers is None:
        return None
    return tuple(layer if index in wanted else None for index, layer in enumerate(layers))
