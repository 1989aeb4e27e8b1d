"""`kr-electra-kd pretrain-teacher`: ELECTRA pre-training of a teacher from plain Korean text, on `Trainer`.

A small generator (masked LM) fills masked positions with sampled tokens; the discriminator learns to tell which
tokens were replaced. Both share the token, position and type embeddings; the loss is
`mlm_weight * generator loss + rtd_weight * discriminator loss` (ELECTRA: 1 and 50). Masking is dynamic (a new mask
every time a text is seen) and, by default, ELECTRA's: of the `mlm_probability` share of tokens chosen, 85% become
`[MASK]` and 15% stay unchanged (the generator must still predict them). `--masking bert` gives BERT's 80% `[MASK]`,
10% random token, 10% unchanged. Runs as one process or under `torchrun` / `accelerate launch` (DDP, gloo on CPU).
The loss is a mean over each batch, divided by the gradient accumulation steps like any Trainer loss. The logs show
`loss_rtd` beside `loss_rtd_constant`, what predicting the replaced share everywhere would cost; a run whose
discriminator ends within 10% of it gets a warning (it has not learned yet, and such a teacher fine-tunes worse than
a random one).

    kr-electra-kd pretrain-teacher --corpus corpus.txt --tokenizer tok --output_dir teacher --preset small-kd \\
        --max_steps 10000

The output folder holds the discriminator (the teacher: config, safetensors, code files, tokenizer) and, in
`generator/`, the generator. Checkpoints go to `output_dir/checkpoints`; a run restarted with the same output_dir
resumes from the newest complete one, which must have the same shape.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import (
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
)
from transformers.modeling_outputs import ModelOutput

from modeling_kr_electra_kd import PRESETS, KRElectraKDConfig, KRElectraKDForMaskedLM, KRElectraKDForPreTraining
from training.arguments import check_length, check_output_dir, overwrite_field, parse_command
from training.corpus import CorpusError, streamed_corpus
from training.loading import load_tokenizer
from training.tokenizer import check_tokenizer_matches_config, save_tokenizer
from training.trainer_common import (
    PRETRAINING_DEFAULTS,
    LossPartsMixin,
    TrainTimer,
    max_train_seconds_field,
    parse_shape,
    resume_checkpoint,
)


def generator_config(discriminator: KRElectraKDConfig, size_divisor: int = 4) -> KRElectraKDConfig:
    """ELECTRA's generator: the discriminator's shape at 1/`size_divisor` of its width (same embeddings)."""
    hidden = max(16, discriminator.hidden_size // size_divisor)
    heads = max(1, min(discriminator.num_attention_heads, hidden // 64 or 1))
    while hidden % heads:
        heads -= 1
    values = discriminator.to_dict()
    for key in ("auto_map", "architectures", "model_type", "transformers_version", "attention_rank", "ffn_rank"):
        values.pop(key, None)
    values.update(hidden_size=hidden, num_attention_heads=heads, intermediate_size=4 * hidden)
    return KRElectraKDConfig(**values)


# Share of the masked positions that become [MASK] / a random token (the rest stay unchanged), per --masking scheme.
MASKING_SCHEMES = {"electra": (0.85, 0.0), "bert": (0.8, 0.1)}


def masking_collator(
    tokenizer, mlm_probability: float = 0.15, masking: str = "electra", seed: int | None = None
) -> DataCollatorForLanguageModeling:
    """Pads a batch and picks `mlm_probability` of its tokens for the generator to predict (`labels`), replaced as the
    `masking` scheme says (see MASKING_SCHEMES)."""
    mask_share, random_share = MASKING_SCHEMES[masking]
    return DataCollatorForLanguageModeling(
        tokenizer,
        mlm_probability=mlm_probability,
        mask_replace_prob=mask_share,
        random_replace_prob=random_share,
        seed=seed,
    )


class ElectraGeneratorDiscriminator(nn.Module):
    """The pre-training pair, generator + discriminator, sharing one embedding module; `forward` returns the combined
    ELECTRA loss. (Not a model of the family: the teacher is its `discriminator`, a `KRElectraKDForPreTraining`.)"""

    # `forward(**kwargs)` would make Trainer believe the model divides its loss by `num_items_in_batch` itself and skip
    # dividing by the gradient accumulation steps; the loss here is a batch mean.
    accepts_loss_kwargs = False

    def __init__(self, discriminator: KRElectraKDForPreTraining, generator: KRElectraKDForMaskedLM, rtd_weight=50.0):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.generator.electra.embeddings = self.discriminator.electra.embeddings
        self.generator.tie_weights()
        self.rtd_weight = rtd_weight
        self.config = discriminator.config

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        positions = masked_positions(labels)
        hidden = self.generator.electra(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        # Vocabulary logits only where a token was masked: the output layer is most of the generator's cost.
        logits = self.generator.prediction_logits(at_positions(hidden, positions)).float()  # one fp32 copy, used twice
        mlm_loss = nn.functional.cross_entropy(logits, at_positions(labels, positions))
        with torch.no_grad():  # sampling is not differentiable; the discriminator sees the sample as data
            sampled = self.sample_replacements(logits)
        corrupted, replaced = replaced_token_labels(input_ids, labels, sampled)
        judged = self.discriminator(
            input_ids=corrupted, attention_mask=attention_mask, token_type_ids=token_type_ids, labels=replaced
        )
        loss = mlm_loss + self.rtd_weight * judged.loss
        return ModelOutput(
            loss=loss,
            mlm_loss=mlm_loss.detach(),
            rtd_loss=judged.loss.detach(),
            rtd_constant_loss=constant_prediction_loss(replaced, attention_mask),
        )

    def sample_replacements(self, logits: torch.Tensor) -> torch.Tensor:
        return sample_replacements(logits)


def masked_positions(labels: torch.Tensor) -> torch.Tensor:
    """Flat (row-major) indices of the masked tokens (`labels` != -100). Their number depends on the batch, so this is
    a step's one wait for the device; `at_positions` then reads the same tokens as boolean indexing without another."""
    return (labels != -100).flatten().nonzero().squeeze(1)


def at_positions(tensor: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """`tensor[masked]` for [batch, seq, ...] inputs, given `masked_positions(labels)`."""
    return tensor.flatten(0, 1).index_select(0, positions)


def sample_replacements(logits: torch.Tensor) -> torch.Tensor:
    """One token per masked position, drawn from the generator's distribution. (Argument validation is off: it would
    read a flag back from the device at every step; the logits come from the model, not from a user.)"""
    return torch.distributions.Categorical(logits=logits, validate_args=False).sample()


def replaced_token_labels(
    input_ids: torch.Tensor, labels: torch.Tensor, sampled: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's input (masked positions filled with `sampled`) and its labels: 1 where a token differs from
    the original text. A sample equal to the original counts as original (ELECTRA); padding is excluded from the
    loss by the attention mask."""
    masked = labels != -100
    original = torch.where(masked, labels, input_ids)
    corrupted = input_ids.masked_scatter(masked, sampled)  # = `corrupted[masked] = sampled`, without a device sync
    return corrupted, (corrupted != original).long()


def constant_prediction_loss(replaced: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The RTD loss of a discriminator that ignores its input and predicts the batch's replaced share `r` for every
    token: the binary entropy -r ln r - (1 - r) ln(1 - r), over the tokens the attention mask keeps. A discriminator
    learns only what takes its loss below this (ELECTRA replaces about 13% of tokens: about 0.39)."""
    if attention_mask is None:
        share = replaced.float().mean()
    else:  # masked arithmetic, not boolean indexing: no device sync
        kept = attention_mask.float()
        share = (replaced.float() * kept).sum() / kept.sum()
    share = share.clamp(1e-7, 1 - 1e-7)
    return -(share * share.log() + (1 - share) * (1 - share).log())


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
        f"below a constant prediction's ({constant:.3f}): it has not learned to detect replaced tokens, and a teacher "
        "like this one fine-tunes no better than random initialisation. Pre-train longer (--max_steps, more data per "
        "step), e.g. on a GPU (benchmarks/reproduce.py --scale gpu); see benchmarks/results/learning_curve.md."
    )


class ElectraPreTrainer(LossPartsMixin, Trainer):
    """Logs the generator (`loss_mlm`) and discriminator (`loss_rtd`) losses beside the total, with the RTD loss of a
    constant prediction (`loss_rtd_constant`) that the discriminator must beat, and checkpoints the shared-embedding
    model with safetensors (which refuses duplicated shared tensors unless saved as a module)."""

    # compute_loss returns a per-batch mean: Trainer must divide it by the gradient accumulation steps.
    loss_is_scaled_for_ga = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if model.training:
            self.record_loss_parts(
                {"mlm": outputs["mlm_loss"], "rtd": outputs["rtd_loss"], "rtd_constant": outputs["rtd_constant_loss"]}
            )
        return (outputs["loss"], outputs) if return_outputs else outputs["loss"]

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        from safetensors.torch import save_model

        output_dir = Path(output_dir or self.args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model)
        save_model(model, str(output_dir / "model.safetensors"))
        model.config.save_pretrained(output_dir)  # the teacher's shape, checked before resuming

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


def teacher_from_checkpoint(checkpoint: str | Path, output_dir: str | Path, tokenizer: str | Path) -> Path:
    """Save a pre-training checkpoint (`checkpoint-N`, holding the generator + discriminator pair's model.safetensors
    and the discriminator's config.json) as a teacher folder, like a finished run's output: the discriminator (config,
    safetensors, code files, `tokenizer` beside them) and its generator in `generator/` (`distill --corrupt_inputs`
    samples from it). Read with safetensors only; returns `output_dir`."""
    from safetensors.torch import load_file

    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    config = KRElectraKDConfig.from_pretrained(checkpoint)
    saved = load_file(checkpoint / "model.safetensors")
    parts = {
        name: {key.removeprefix(f"{name}."): value for key, value in saved.items() if key.startswith(f"{name}.")}
        for name in ("discriminator", "generator")
    }
    # The embeddings are shared: safetensors keeps one copy, under either model's name.
    for name, other in (("discriminator", "generator"), ("generator", "discriminator")):
        for key, value in parts[other].items():
            if key.startswith("electra.embeddings."):
                parts[name].setdefault(key, value)
    discriminator = KRElectraKDForPreTraining(config)
    discriminator.load_state_dict(parts["discriminator"], strict=True)
    # the generator's width is not in the checkpoint's config: read it from its weights
    width = parts["generator"]["electra.encoder.layer.0.output.LayerNorm.weight"].shape[0]
    generator = KRElectraKDForMaskedLM(generator_config(config, config.hidden_size // width))
    missing, unexpected = generator.load_state_dict(parts["generator"], strict=False)
    if unexpected or set(missing) - {"generator_lm_head.weight"}:  # the output layer is tied to the embeddings
        raise ValueError(f"{checkpoint}: generator weights do not fit ({sorted(missing)} missing, {unexpected} extra).")
    generator.tie_weights()
    return save_teacher(output_dir, discriminator, load_tokenizer(tokenizer, "--tokenizer"), generator)


@dataclass
class PretrainArguments:
    corpus: list[str] = field(
        metadata={
            "help": "Korean text files (UTF-8, one text per line, .txt or .gz) or folders of them (every *.txt and "
            "*.gz file); streamed, never loaded whole."
        }
    )
    tokenizer: str = field(metadata={"help": "Tokenizer folder or Hub id (e.g. from `kr-electra-kd train-tokenizer`)."})
    preset: str = field(default="small-kd", metadata={"help": f"Teacher shape: {', '.join(PRESETS)}."})
    shape: str | None = field(
        default=None,
        metadata={"help": "Overrides of the preset as key=value pairs, e.g. 'hidden_size=128,num_hidden_layers=4'."},
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
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of tokens masked for the generator."})
    masking: str = field(
        default="electra",
        metadata={
            "help": "What masked tokens become: electra (85%% [MASK], 15%% unchanged) or bert (80%% [MASK], 10%% "
            "random token, 10%% unchanged).",
            "choices": list(MASKING_SCHEMES),
        },
    )
    rtd_weight: float = field(default=50.0, metadata={"help": "Weight of the discriminator loss (ELECTRA: 50)."})
    generator_size_divisor: int = field(default=4, metadata={"help": "Generator width = teacher width / this."})
    max_train_seconds: float | None = max_train_seconds_field()
    overwrite_output_dir: bool = overwrite_field()


def main(argv: list[str] | None = None) -> int:
    args, training_args = parse_command(
        (PretrainArguments, TrainingArguments), argv, "kr-electra-kd pretrain-teacher", PRETRAINING_DEFAULTS
    )
    output_dir = Path(training_args.output_dir)
    training_args.output_dir = str(output_dir / "checkpoints")
    try:
        # a finished teacher with its checkpoints is resumed (training continues to a larger --max_steps)
        check_output_dir(output_dir, args.overwrite_output_dir, checkpoints=training_args.output_dir)
        if args.preset not in PRESETS:
            raise ValueError(f"Unknown preset {args.preset!r}; choose one of: {', '.join(PRESETS)}.")
        tokenizer = load_tokenizer(args.tokenizer, "--tokenizer")
        config = KRElectraKDConfig.from_preset(
            args.preset,
            **{"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id, **parse_shape(args.shape)},
        )
        check_length("--max_seq_length", args.max_seq_length, config.max_position_embeddings, "the teacher's")
        check_tokenizer_matches_config(tokenizer, config)
        train_dataset = streamed_corpus(
            args.corpus,
            tokenizer,
            args.max_seq_length,
            args.max_corpus_lines,
            args.packing,
            training_args.seed,
            endless=True,
        )
        last = resume_checkpoint(training_args.output_dir, config)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    torch.manual_seed(training_args.seed)
    discriminator = KRElectraKDForPreTraining(config)
    generator = KRElectraKDForMaskedLM(generator_config(config, args.generator_size_divisor))
    model = ElectraGeneratorDiscriminator(discriminator, generator, rtd_weight=args.rtd_weight)
    collator = masking_collator(tokenizer, args.mlm_probability, args.masking)
    trainer = ElectraPreTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=collator,
        callbacks=[TrainTimer(args.max_train_seconds)],
    )
    try:
        trainer.train(resume_from_checkpoint=last)
    except CorpusError as error:  # a bad line deep in the streamed corpus is met only when training reaches it
        print(f"error: {error}", file=sys.stderr)
        return 2

    if trainer.is_world_process_zero():
        warning = discriminator_check(trainer.state.log_history)
        if warning:
            print(warning, file=sys.stderr)
        save_teacher(output_dir, discriminator, tokenizer, generator)
        print(f"Saved the teacher (discriminator) to {output_dir} and its generator to {output_dir / 'generator'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
