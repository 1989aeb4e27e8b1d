"""The student a distillation trains: its config (`student_config`), the student itself (`build_student`: a preset,
initialised randomly, from the teacher's layers or from a trained student by SVD), the teacher layer each student
layer learns from (`uniform_layer_map`, `check_layer_map`), and the generator of `--corrupt_inputs`
(`load_generator`)."""

from __future__ import annotations

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDPreTrainedModel, check_preset
from training.defaults import BUILT_STUDENT_INITS, RANK_FIELDS
from training.loading import HEADS, load_model
from training.lowrank import convert_to_low_rank
from training.trainer_common import parse_shape


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
    """The student's config: `preset` with `shape`'s overrides, the teacher's vocabulary, positions and layer-norm
    position (a pre-LN teacher's hidden states are matched by a pre-LN student's unless `shape` says otherwise), and
    `task`'s labels when there is one."""
    check_preset(preset, "student preset")
    overrides = {"vocab_size": teacher_config.vocab_size, "pad_token_id": tokenizer.pad_token_id}
    overrides["max_position_embeddings"] = teacher_config.max_position_embeddings
    overrides["layer_norm_position"] = getattr(teacher_config, "layer_norm_position", "post")
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
    position = getattr(teacher.config, "layer_norm_position", "post")
    if student.config.layer_norm_position != position:
        raise ValueError(
            f"--student_init teacher-layers needs the teacher's layer_norm_position ({position!r}); this student "
            f"has {student.config.layer_norm_position!r}. "
            "Drop layer_norm_position from --student_shape, or use random initialisation."
        )
    student_base.embeddings.load_state_dict(teacher_base.embeddings.state_dict())
    if hasattr(teacher_base, "embeddings_project") and hasattr(student_base, "embeddings_project"):
        student_base.embeddings_project.load_state_dict(teacher_base.embeddings_project.state_dict())
    for index, teacher_layer in enumerate(layer_map):
        student_base.encoder.layer[index].load_state_dict(teacher_base.encoder.layer[teacher_layer - 1].state_dict())
    if getattr(teacher_base.encoder, "LayerNorm", None) is not None:  # pre-LN's final layer norm
        student_base.encoder.LayerNorm.load_state_dict(teacher_base.encoder.LayerNorm.state_dict())


def build_student(
    teacher, tokenizer, head: str, task, preset: str, shape: str | None = None, init: str = "random"
) -> tuple[KRElectraKDPreTrainedModel, dict]:
    """The student model (`preset` + `shape`, with `head`; `init`: random, teacher-layers, or a folder/Hub id of a
    trained student, converted by SVD to the preset's ranks when they differ) and a note of how it was initialised."""
    config = student_config(preset, shape, teacher.config, tokenizer, task)
    if init in BUILT_STUDENT_INITS:
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
