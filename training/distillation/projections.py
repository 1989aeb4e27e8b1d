"""The learned maps from the student's width to the teacher's that the hidden-state losses compare through, and the
student wrapped with them so one optimizer trains both."""

from __future__ import annotations

from torch import nn
from transformers import PreTrainedModel

# Beside the student in each checkpoint: the learned projections, which a resumed run needs.
PROJECTIONS_FILE = "distillation_projections.safetensors"


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

    def has_parameters(self) -> bool:
        return any(True for _ in self.parameters())


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
