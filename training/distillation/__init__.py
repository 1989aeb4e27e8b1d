"""Knowledge distillation as a small library.

- `losses`: the loss functions (tensor shapes in their docstrings) and `LOSSES`, the registry by name;
- `config`: `DistillationConfig`, the settings and one `--weight_<name>` per registered loss;
- `projections`: the learned student -> teacher width maps, and the student wrapped with them;
- `cache`: `TeacherCache`, the teacher's outputs kept across epochs;
- `students`: the student's config and initialisation, the layer map, the generator;
- `trainer`: `DistillationTrainer`, which sums the active losses;
- `run`: the distill command's rules, and `run_distillation`, one whole distillation from keyword arguments.
"""

from training.distillation.cache import TeacherCache
from training.distillation.config import LOSS_PARTS, DistillationConfig, weight_option
from training.distillation.losses import (
    HEAD_KINDS,
    LOSSES,
    REPLACED_TOKEN_DETECTION,
    LossBatch,
    LossSpec,
    attention_kl,
    hidden_mse,
    soft_target_kl,
)
from training.distillation.projections import PROJECTIONS_FILE, DistillationProjections, StudentWithProjections
from training.distillation.run import DistillArguments, prepare_distillation, run_distillation
from training.distillation.students import (
    build_student,
    check_layer_map,
    load_generator,
    student_config,
    uniform_layer_map,
)
from training.distillation.trainer import DistillationTrainer, capture_qkv, head_kind

__all__ = [
    "HEAD_KINDS",
    "LOSSES",
    "LOSS_PARTS",
    "PROJECTIONS_FILE",
    "REPLACED_TOKEN_DETECTION",
    "DistillArguments",
    "DistillationConfig",
    "DistillationProjections",
    "DistillationTrainer",
    "LossBatch",
    "LossSpec",
    "StudentWithProjections",
    "TeacherCache",
    "attention_kl",
    "build_student",
    "capture_qkv",
    "check_layer_map",
    "head_kind",
    "hidden_mse",
    "load_generator",
    "prepare_distillation",
    "run_distillation",
    "soft_target_kl",
    "student_config",
    "uniform_layer_map",
    "weight_option",
]
