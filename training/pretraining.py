"""ELECTRA pre-training on `Trainer` (the library behind `kr-electra-kd pretrain-teacher`): `ElectraPreTrainer`, the
teacher folder it writes, and the check that the discriminator learned.

The objective itself (generator + discriminator, masking, `corrupt()`) is training/electra_objective.py. Runs as one
process or under `torchrun` / `accelerate launch` (DDP, gloo on CPU). The loss is a mean over each batch, divided by
the gradient accumulation steps like any Trainer loss. The logs show `loss_rtd` beside `loss_rtd_constant`, what
predicting the replaced share everywhere would cost; a run whose discriminator ends within 10% of it gets a warning
(it has not learned yet, and such a teacher fine-tunes worse than a random one).

A teacher folder holds the discriminator (the teacher: config, safetensors, code files, tokenizer) and, in
`generator/`, the generator.
"""

from __future__ import annotations

from pathlib import Path

from transformers import (
    Trainer,
)

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForMaskedLM, KRElectraKDForPreTraining
from training.electra_objective import generator_config
from training.loading import load_tokenizer
from training.tokenizer import save_tokenizer
from training.trainer_common import (
    LossPartsMixin,
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
