"""ELECTRA pre-training on `Trainer` (the library behind `kr-electra-kd pretrain-teacher`): `ElectraPreTrainer`, the
teacher folder it writes, and the check that the discriminator learned.

The objective itself (generator + discriminator, masking, `corrupt()`) is training/electra_objective.py. Runs as one
process or under `torchrun` / `accelerate launch` (DDP, gloo on CPU). The loss is a mean over each batch, divided by
the gradient accumulation steps like any Trainer loss. The logs show `loss_rtd` beside `loss_rtd_constant`, what
predicting the replaced share everywhere would cost; a run whose discriminator ends within 10% of it gets a warning
(it has not learned yet, and such a teacher fine-tunes worse than a random one).

A teacher folder holds the discriminator (the teacher: config, safetensors, code files, tokenizer) and, in
`generator/`, the generator.

`prepare_pretraining` does every check and builds the trainer; `Pretraining.train` and `Pretraining.save` run it and
write the teacher folder. `run_pretraining(**options)` does all three from keyword arguments named as the command's
options, with its defaults:

    run_pretraining(corpus=["corpus.txt"], tokenizer="tok", preset="small-kd", max_steps=800, output_dir="teacher")
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase, Trainer, TrainingArguments

from modeling_kr_electra_kd import (
    PRESETS,
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    check_preset,
)
from training.arguments import check_length, check_output_dir, overwrite_field, split_options
from training.corpus import DatasetArguments, corpus_source, streamed_corpus
from training.defaults import MLM_PROBABILITY
from training.electra_objective import (
    MASKING_SCHEMES,
    ElectraGeneratorDiscriminator,
    generator_config,
    masking_collator,
)
from training.embedding_init import (
    embedding_init_field,
    embedding_init_lines_field,
    embedding_init_std_field,
    embedding_init_window_field,
    initialise_embeddings,
)
from training.learning_rates import ScaledLearningRatesMixin
from training.loading import load_tokenizer
from training.outputs import atomic_output, bytes_of, output_run
from training.tokenizer import check_tokenizer_matches_config, save_tokenizer
from training.trainer_common import (
    PRETRAINING_DEFAULTS,
    LossPartsMixin,
    TrainingClock,
    TrainTimer,
    max_train_seconds_field,
    parse_shape,
    resume_checkpoint,
    train_or_restore,
)

# The discriminator has learned its task when its RTD loss falls this far below the constant prediction's.
RTD_LEARNED_MARGIN = 0.1


def last_pretraining_log(log_history: list[dict]) -> dict | None:
    """The last entry of a pre-training run's Trainer log history that holds its loss parts (`loss_rtd`, `loss_mlm`
    and, in runs since it was added, `loss_rtd_constant`), or None before the first log."""
    return next((entry for entry in reversed(log_history) if "loss_rtd" in entry), None)


def discriminator_check(log_history: list[dict]) -> str | None:
    """A warning when the last logged RTD loss is within RTD_LEARNED_MARGIN (relative) of the constant prediction's
    (`constant_prediction_loss`): such a discriminator has learned nearly nothing, and its encoder tends to collapse
    (benchmarks/results/learning_curve.md: a teacher fine-tuned from it scores below the same shape randomly
    initialised). None when it learned, or when nothing was logged."""
    last = last_pretraining_log(log_history)
    if last is None or "loss_rtd_constant" not in last:
        return None
    rtd, constant = last["loss_rtd"], last["loss_rtd_constant"]
    if rtd < (1 - RTD_LEARNED_MARGIN) * constant:
        return None
    return (
        f"warning: at step {last['step']} the discriminator's RTD loss ({rtd:.3f}) is not {RTD_LEARNED_MARGIN:.0%} "
        f"below a constant prediction's ({constant:.3f}): it has not learned to detect replaced tokens, so its encoder "
        "adds little beyond its starting token embeddings (--embedding_init; from random embeddings such a teacher "
        "fine-tunes below random initialisation). Pre-train longer (--max_steps, more data per step), e.g. on a GPU "
        "(benchmarks/reproduce.py --scale gpu); see benchmarks/results/learning_curve.md."
    )


# The token embeddings' parameters (a factorized matrix's two factors too), by name: what --embedding_init sets.
TOKEN_EMBEDDING_PARAMETER = re.compile(r"(?:^|\.)embeddings\.word_embeddings(?:_up)?\.")


class ElectraPreTrainer(LossPartsMixin, ScaledLearningRatesMixin, Trainer):
    """Logs the generator (`loss_mlm`) and discriminator (`loss_rtd`) losses beside the total, with the RTD loss of a
    constant prediction (`loss_rtd_constant`) that the discriminator must beat, trains the shared token embeddings at
    `token_embedding_lr_scale` times the learning rate, and checkpoints the shared-embedding model with safetensors
    (which refuses duplicated shared tensors unless saved as a module)."""

    # compute_loss returns a per-batch mean: Trainer must divide it by the gradient accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(self, *args, token_embedding_lr_scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.token_embedding_lr_scale = token_embedding_lr_scale

    def learning_rate_scale(self, name: str) -> float:
        return self.token_embedding_lr_scale if TOKEN_EMBEDDING_PARAMETER.search(name) else 1.0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if model.training:
            self.record_loss_parts(
                {"mlm": outputs["mlm_loss"], "rtd": outputs["rtd_loss"], "rtd_constant": outputs["rtd_constant_loss"]}
            )
        return (outputs["loss"], outputs) if return_outputs else outputs["loss"]

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Every checkpoint's model (the public hook Trainer saves through): one safetensors file of the shared-embedding
        pair, saved as a module, and the teacher's config (its shape, checked before resuming)."""
        from safetensors.torch import save_model

        if not self.args.should_save:  # the main process writes (Trainer's own save_model checks the same)
            return
        output_dir = Path(output_dir or self.args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model)
        save_model(model, str(output_dir / "model.safetensors"))
        model.config.save_pretrained(output_dir)

    # A private Trainer method, overridden because no public hook loads a checkpoint on resume: the pair's shared
    # tensors were saved as a module, which Trainer's own loader cannot read back. Written against
    # `Trainer._load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None`;
    # tests/test_trainer_overrides.py fails when that signature changes.
    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        from safetensors.torch import load_model

        load_model(self.accelerator.unwrap_model(self.model), f"{resume_from_checkpoint}/model.safetensors")


def save_teacher(output_dir: str | Path, discriminator: KRElectraKDForPreTraining, tokenizer, generator=None) -> Path:
    """Write a teacher folder: the discriminator (config, safetensors, code files) with `tokenizer` beside it and, when
    given, its generator with the same tokenizer in `generator/` (what `distill --corrupt_inputs` samples from)."""
    output_dir = Path(output_dir)
    discriminator.save_pretrained(output_dir)
    save_tokenizer(tokenizer, output_dir)
    if generator is not None:
        generator.save_pretrained(output_dir / "generator")
        save_tokenizer(tokenizer, output_dir / "generator")
    return output_dir


# How a pre-training checkpoint's model.safetensors names the pair's tensors: ElectraGeneratorDiscriminator's
# attributes, the embeddings the two models share and the generator's output layer.
PAIR_PARTS = ("discriminator", "generator")
SHARED_EMBEDDINGS = "electra.embeddings."
SHARED_TOKEN_EMBEDDINGS = tuple(f"{part}.{SHARED_EMBEDDINGS}word_embeddings.weight" for part in PAIR_PARTS)
GENERATOR_OUTPUT = "generator.generator_lm_head.weight"


def checkpoint_parts(saved: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """A pre-training checkpoint's tensors as each model's state dict ({"discriminator": ..., "generator": ...}).
    The embeddings are shared: safetensors keeps one copy, under either model's name, and each part gets it."""
    parts = {
        part: {name.removeprefix(f"{part}."): value for name, value in saved.items() if name.startswith(f"{part}.")}
        for part in PAIR_PARTS
    }
    for part, other in (PAIR_PARTS, PAIR_PARTS[::-1]):
        for name, value in parts[other].items():
            if name.startswith(SHARED_EMBEDDINGS):
                parts[part].setdefault(name, value)
    return parts


def teacher_from_checkpoint(checkpoint: str | Path, output_dir: str | Path, tokenizer: str | Path) -> Path:
    """Save a pre-training checkpoint (`checkpoint-N`, holding the generator + discriminator pair's model.safetensors
    and the discriminator's config.json) as a teacher folder, like a finished run's output: the discriminator (config,
    safetensors, code files, `tokenizer` beside them) and its generator in `generator/` (`distill --corrupt_inputs`
    samples from it). Read with safetensors only; returns `output_dir`."""
    from safetensors.torch import load_file

    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    config = KRElectraKDConfig.from_pretrained(checkpoint)
    saved = load_file(checkpoint / "model.safetensors")
    parts = checkpoint_parts(saved)
    discriminator = KRElectraKDForPreTraining(config)
    discriminator.load_state_dict(parts["discriminator"], strict=True)
    # the generator's width is not in the checkpoint's config: read it from its weights (a layer norm of its first
    # layer, wherever `layer_norm_position` puts them)
    width = next(
        value.shape[0]
        for key, value in parts["generator"].items()
        if key.startswith("electra.encoder.layer.0.") and key.endswith("LayerNorm.weight")
    )
    untied = generator_output_untied(saved)
    generator = KRElectraKDForMaskedLM(generator_config(config, config.hidden_size // width, tie_output=not untied))
    missing, unexpected = generator.load_state_dict(parts["generator"], strict=False)
    if unexpected or set(missing) - {"generator_lm_head.weight"}:  # a tied output layer is the embeddings
        raise ValueError(f"{checkpoint}: generator weights do not fit ({sorted(missing)} missing, {unexpected} extra).")
    generator.tie_weights()
    return save_teacher(output_dir, discriminator, load_tokenizer(tokenizer, "--tokenizer"), generator)


def generator_output_untied(saved_names: Iterable[str]) -> bool:
    """Whether a pre-training checkpoint's generator has an output layer of its own (--untie_generator_output), read
    from the tensor names its model.safetensors kept: tensors that share memory are saved once, so a tied output layer
    and the token embeddings leave one name between them and an untied one leaves two. Names, not values: an untied
    layer saved before its first update (warm-up's first step has learning rate 0) equals the embeddings."""
    names = set(saved_names)
    return GENERATOR_OUTPUT in names and any(name in names for name in SHARED_TOKEN_EMBEDDINGS)


def untie_generator_output(model: ElectraGeneratorDiscriminator) -> None:
    """Start the generator's own output layer (--untie_generator_output) from the token embeddings, as the tied layer
    would be, so untying changes what trains, not where it starts."""
    embeddings = model.discriminator.electra.embeddings.word_embeddings.weight
    with torch.no_grad():
        model.generator.generator_lm_head.weight.copy_(embeddings)


def check_generator_output(checkpoint: str | Path, untie: bool) -> None:
    """Refuse to resume a checkpoint whose generator output layer is tied when --untie_generator_output is given, or
    untied when it is not: the run must go on as it started."""
    from safetensors import safe_open

    with safe_open(str(Path(checkpoint) / "model.safetensors"), framework="pt") as saved:
        untied = generator_output_untied(saved.keys())
    if untied != untie:
        given, started = ("with", "without") if untie else ("without", "with")
        raise ValueError(
            f"{checkpoint}: this run started {started} --untie_generator_output and is resumed {given} it; resume it "
            f"as it started, or start a new --output_dir."
        )


def set_dropout(model: nn.Module, probability: float) -> None:
    """Set every dropout module of `model` to `probability`: the hidden and the attention dropout (the attention
    kernels read `dropout.p`). The configs keep their own values, so a model saved from here, or rebuilt from its
    config, has the config's dropout again (pre-training's `--pretraining_dropout`)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = probability


def freeze_token_embeddings(model: nn.Module) -> None:
    """No gradient for the token embeddings (`--token_embedding_lr_scale 0`): they stay at their starting values, and
    neither the optimizer nor gradient clipping sees them."""
    for name, parameter in model.named_parameters():
        if TOKEN_EMBEDDING_PARAMETER.search(name):
            parameter.requires_grad_(False)


# The command's arguments live here, not in training/commands/pretrain_teacher.py: `run_pretraining` builds them from
# keyword options with their defaults, and a library may not import a command.
@dataclass
class PretrainArguments:
    tokenizer: str = field(metadata={"help": "Tokenizer folder or Hub id (e.g. from `kr-electra-kd train-tokenizer`)."})
    corpus: list[str] | None = field(
        default=None,
        metadata={
            "help": "Korean text files (UTF-8, one text per line, .txt or .gz) or folders of them (every *.txt and "
            "*.gz file); streamed, never loaded whole. Or a dataset: --dataset_name."
        },
    )
    preset: str = field(default="small-kd", metadata={"help": f"Teacher shape: {', '.join(PRESETS)}."})
    shape: str | None = field(
        default=None,
        metadata={
            "help": "Overrides of the preset as key=value pairs, e.g. 'hidden_size=128,num_hidden_layers=4', or "
            "'layer_norm_position=pre' for pre-LN layers."
        },
    )
    max_corpus_lines: int | None = field(default=None, metadata={"help": "Use at most this many corpus lines."})
    max_seq_length: int = field(
        default=128, metadata={"help": "Length of the packed blocks (with --no_packing: texts are truncated to it)."}
    )
    packing: bool = field(
        default=True,
        metadata={
            "help": "Join consecutive texts into full blocks ([CLS] a [SEP] b [SEP] ...); --no_packing: one "
            "padded text per example."
        },
    )
    mlm_probability: float = field(
        default=MLM_PROBABILITY,
        metadata={
            "help": "Share of tokens masked for the generator. Measured at 0.4 (Wettig et al., 2022) on the teacher's "
            f"learning curve (750 steps, 3 seeds): 80.44 on NSMC against 79.75 at {MLM_PROBABILITY}, +0.69 paired, "
            "2 seeds of 3 better: within noise, so the default stays ELECTRA's."
        },
    )
    masking: str = field(
        default="electra",
        metadata={
            "help": "What masked tokens become: electra (85%% [MASK], 15%% unchanged) or bert (80%% [MASK], 10%% "
            "random token, 10%% unchanged).",
            "choices": list(MASKING_SCHEMES),
        },
    )
    rtd_weight: float = field(default=50.0, metadata={"help": "Weight of the discriminator loss (ELECTRA: 50)."})
    generator_size_divisor: int = field(
        default=4,
        metadata={
            "help": "Generator width = teacher width / this. Measured at 2 (a generator half the teacher's width) "
            "on the teacher's learning curve (750 steps, 3 seeds): 80.17 on NSMC against 79.75 at 4, +0.42 paired, "
            "within noise, so the default stays 4 (ELECTRA: 1/4 to 1/2)."
        },
    )
    embedding_init: str = embedding_init_field(
        "ppmi-svd",
        "Measured on NSMC at 4k labels over 3 seeds, a ppmi-svd teacher fine-tunes above the same shape randomly "
        "initialised, which a random-embedding teacher does not at CPU compute (benchmarks/results/learning_curve.md).",
    )
    embedding_init_lines: int = embedding_init_lines_field()
    embedding_init_std: float = embedding_init_std_field()
    embedding_init_window: int = embedding_init_window_field()
    pretraining_dropout: float | None = field(
        default=None,
        metadata={
            "help": "Dropout (hidden and attention) while pre-training only, in [0, 1); the saved teacher's config "
            "keeps the preset's dropout for fine-tuning. Default: the preset's. A short pre-training underfits "
            "rather than overfits, and Cramming (Geiping & Goldstein, 2022) pre-trains without dropout; measured "
            "at 0 on the teacher's learning curve (750 steps, 3 seeds): 79.85 on NSMC against 79.75, within noise, "
            "so the default stays the preset's."
        },
    )
    token_embedding_lr_scale: float = field(
        default=1.0,
        metadata={
            "help": "The token embeddings (shared by the generator and the discriminator, tied to the generator's "
            "output layer, and where --embedding_init puts its vectors) train at --learning_rate times this; 0 "
            "freezes them at their starting values (no gradient). Measured on the teacher's learning curve (750 "
            "steps, 3 seeds): at 0, 80.87 on NSMC against 79.75 at 1 (+1.12 paired, better on every seed, within "
            "noise) and 81.17 for the starting embeddings with no ELECTRA step; to 1,500 steps 80.59; with "
            "--mlm_probability 0.4, 80.45; at 0.1, 80.06. Freezing keeps the starting vectors' gain that the ELECTRA "
            "steps otherwise wear down, but the steps add nothing on top of them, so the default stays 1 (every "
            "parameter at --learning_rate)."
        },
    )
    untie_generator_output: bool = field(
        default=False,
        metadata={
            "help": "Give the generator an output layer of its own, starting from the token embeddings, instead of "
            "sharing them (ELECTRA ties them). With --token_embedding_lr_scale 0 the frozen embeddings otherwise "
            "freeze the generator's output too, and it cannot learn the corpus's word frequencies. Measured with "
            "--token_embedding_lr_scale 0 on the teacher's learning curve (750 steps, 3 seeds): the generator learns "
            "(MLM loss 6.38, below the unigram 6.83; 8.55 tied) but NSMC scores 80.75 against 80.87 tied, so the "
            "default stays ELECTRA's tied layer."
        },
    )
    max_train_seconds: float | None = max_train_seconds_field()
    overwrite_output_dir: bool = overwrite_field()


@dataclass
class Pretraining:
    """A pre-training ready to train: what `prepare_pretraining` checked and built."""

    output_dir: Path
    tokenizer: PreTrainedTokenizerBase
    model: ElectraGeneratorDiscriminator
    trainer: ElectraPreTrainer
    resume_from: str | None  # the checkpoint training continues from, if any

    def train(self) -> int | None:
        """Train (from the newest complete checkpoint in output_dir/checkpoints, if any); None when it ran to its end,
        or the exit status of the signal that stopped it with a checkpoint (training.interrupts). A bad line deep in
        the streamed corpus is met only here (training.corpus.CorpusError)."""
        return train_or_restore(self.trainer, self.resume_from)

    def save(self) -> Path:
        """The teacher folder (main process only), moved into place once complete, after the discriminator check's
        warning if it has one; its path."""
        if self.trainer.is_world_process_zero():
            warning = discriminator_check(self.trainer.state.log_history)
            if warning:
                print(warning, file=sys.stderr)
            with atomic_output(self.output_dir, needed=bytes_of(self.model)) as staging:
                save_teacher(staging, self.model.discriminator, self.tokenizer, self.model.generator)
            print(
                f"Saved the teacher (discriminator) to {self.output_dir} and its generator to "
                f"{self.output_dir / 'generator'}."
            )
        return self.output_dir


def prepare_pretraining(
    args: PretrainArguments, training_args: TrainingArguments, dataset: DatasetArguments | None = None
) -> Pretraining:
    """Every check, the corpus (--corpus files or the `dataset`) and the trainer; training_args.output_dir is the teacher's folder (its checkpoints go
    to output_dir/checkpoints, and a finished teacher with its checkpoints is resumed to a larger --max_steps). Bad
    input raises ValueError (or OSError) before any training."""
    output_dir = Path(training_args.output_dir)
    training_args.output_dir = str(output_dir / "checkpoints")
    check_output_dir(output_dir, args.overwrite_output_dir, checkpoints=training_args.output_dir)
    check_preset(args.preset)
    source = corpus_source(args.corpus, dataset)
    tokenizer = load_tokenizer(args.tokenizer, "--tokenizer")
    config = KRElectraKDConfig.from_preset(
        args.preset, **{"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id, **parse_shape(args.shape)}
    )
    check_length("--max_seq_length", args.max_seq_length, config.max_position_embeddings, "the teacher's")
    check_tokenizer_matches_config(tokenizer, config)
    train_dataset = streamed_corpus(
        source,
        tokenizer,
        args.max_seq_length,
        args.max_corpus_lines,
        args.packing,
        training_args.seed,
        endless=True,
    )
    last = resume_checkpoint(training_args.output_dir, config)
    torch.manual_seed(training_args.seed)
    discriminator = KRElectraKDForPreTraining(config)
    generator_shape = generator_config(config, args.generator_size_divisor, tie_output=not args.untie_generator_output)
    generator = KRElectraKDForMaskedLM(generator_shape)
    model = ElectraGeneratorDiscriminator(discriminator, generator, rtd_weight=args.rtd_weight)
    if last is None:  # a resumed run loads its embeddings from the checkpoint
        initialise_embeddings(discriminator, tokenizer, args, source)
        if args.untie_generator_output:
            untie_generator_output(model)
    else:
        check_generator_output(last, args.untie_generator_output)
    if args.pretraining_dropout is not None:
        set_dropout(model, args.pretraining_dropout)
    if args.token_embedding_lr_scale == 0:
        freeze_token_embeddings(model)
    trainer = ElectraPreTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=masking_collator(tokenizer, args.mlm_probability, args.masking, seed=training_args.seed),
        callbacks=[TrainTimer(args.max_train_seconds), TrainingClock()],
        token_embedding_lr_scale=args.token_embedding_lr_scale,
    )
    return Pretraining(output_dir, tokenizer, model, trainer, last)


def run_pretraining(**options) -> Path:
    """One whole teacher pre-training, from keyword arguments named as the pretrain-teacher command's options
    (`corpus` or `dataset_name`, `tokenizer`, `output_dir`, `preset`, any TrainingArguments field, ...), with the command's defaults;
    returns the teacher folder. Runs in its own `output_run` (the output folder is locked until it returns). Bad input
    raises ValueError; a run stopped by SIGTERM/SIGINT saves its checkpoint and raises SystemExit with the signal's
    exit status."""
    own, dataset, trainer = split_options(
        options, (PretrainArguments, DatasetArguments, TrainingArguments), "pre-training"
    )
    with output_run():
        training_args = TrainingArguments(**{**PRETRAINING_DEFAULTS, **trainer})
        run = prepare_pretraining(PretrainArguments(**own), training_args, DatasetArguments(**dataset))
        stopped = run.train()
        if stopped is not None:  # the checkpoint is written and the line printed; the process ends
            raise SystemExit(stopped)
        return run.save()
