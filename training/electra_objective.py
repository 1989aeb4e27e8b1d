"""ELECTRA's pre-training objective: the generator + discriminator pair, the masking collator and token corruption.

A small generator (masked LM) fills masked positions with sampled tokens; the discriminator learns to tell which
tokens were replaced. Both share the token, position and type embeddings; the loss is
`mlm_weight * generator loss + rtd_weight * discriminator loss` (ELECTRA: 1 and 50). Masking is dynamic (a new mask
every time a text is seen) and, by default, ELECTRA's: of the `mlm_probability` share of tokens chosen, 85% become
`[MASK]` and 15% stay unchanged (the generator must still predict them). `--masking bert` gives BERT's 80% `[MASK]`,
10% random token, 10% unchanged. `corrupt()` is the one corruption of a masked batch, used by pre-training and by
`distill --corrupt_inputs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import (
    DataCollatorForLanguageModeling,
)
from transformers.modeling_outputs import ModelOutput

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForMaskedLM, KRElectraKDForPreTraining
from training.defaults import MLM_PROBABILITY, RANK_FIELDS


def generator_config(
    discriminator: KRElectraKDConfig, size_divisor: int = 4, tie_output: bool = True
) -> KRElectraKDConfig:
    """ELECTRA's generator: the discriminator's shape at 1/`size_divisor` of its width (same embeddings), its output
    layer tied to the token embeddings (ELECTRA) or, with `tie_output` False, a layer of its own."""
    hidden = max(16, discriminator.hidden_size // size_divisor)
    heads = max(1, min(discriminator.num_attention_heads, hidden // 64 or 1))
    while hidden % heads:
        heads -= 1
    values = discriminator.to_dict()
    # the generator keeps the discriminator's (shared) embeddings, so only their rank carries over
    for key in ("auto_map", "architectures", "model_type", "transformers_version", *RANK_FIELDS[1:]):
        values.pop(key, None)
    values.update(hidden_size=hidden, num_attention_heads=heads, intermediate_size=4 * hidden)
    values["tie_word_embeddings"] = tie_output
    return KRElectraKDConfig(**values)


# Share of the masked positions that become [MASK] / a random token (the rest stay unchanged), per --masking scheme.
MASKING_SCHEMES = {"electra": (0.85, 0.0), "bert": (0.8, 0.1)}


def masking_collator(
    tokenizer, mlm_probability: float = MLM_PROBABILITY, masking: str = "electra", seed: int | None = None
) -> DataCollatorForLanguageModeling:
    """Pads a batch and picks `mlm_probability` of its tokens for the generator to predict (`labels`), replaced as the
    `masking` scheme says (see MASKING_SCHEMES).

    The masks come from the collator's own generator, seeded with `seed` (0 when None), never from the global RNG:
    Trainer restores the global RNG of a checkpoint only after fetching the first batch after it, so masks drawn from
    it differ from the uninterrupted run's from that batch on (issue 30: a resumed pre-training run ended 1e-3 away).
    The collator's generator needs no checkpoint: Trainer rebuilds the batches of a streamed corpus that a resumed
    run skips, so it has drawn the same masks as the uninterrupted run when training continues."""
    mask_share, random_share = MASKING_SCHEMES[masking]
    return DataCollatorForLanguageModeling(
        tokenizer,
        mlm_probability=mlm_probability,
        mask_replace_prob=mask_share,
        random_replace_prob=random_share,
        seed=0 if seed is None else seed,
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
        self.generator.tie_weights()  # unless the generator's config unties its output layer
        self.rtd_weight = rtd_weight
        self.config = discriminator.config

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        corruption = corrupt(
            self.generator, input_ids, labels, attention_mask, token_type_ids, self.sample_replacements
        )
        mlm_loss = nn.functional.cross_entropy(corruption.logits, at_positions(labels, corruption.positions))
        corrupted, replaced = corruption.input_ids, corruption.replaced
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


@dataclass
class Corruption:
    """A masked batch as ELECTRA corrupts it: the generator's sample in every masked position (`input_ids`), which
    tokens now differ from the text (`replaced`, the discriminator's labels), and the generator's vocabulary logits at
    the masked `positions` (fp32; they carry gradients unless computed under `torch.no_grad`)."""

    input_ids: torch.Tensor
    replaced: torch.Tensor
    logits: torch.Tensor
    positions: torch.Tensor


def corrupt(
    generator: KRElectraKDForMaskedLM,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
    sample: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Corruption:
    """ELECTRA's token corruption, the one used by pre-training and by `distill --corrupt_inputs`: each masked position
    (`labels` != -100) gets a token drawn by `sample` (default `sample_replacements`) from the generator's logits."""
    positions = masked_positions(labels)
    hidden = generator.electra(
        input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
    ).last_hidden_state
    # Vocabulary logits only where a token was masked: the output layer is most of the generator's cost.
    logits = generator.prediction_logits(at_positions(hidden, positions)).float()  # one fp32 copy, used twice
    with torch.no_grad():  # sampling is not differentiable; the discriminator sees the sample as data
        sampled = (sample or sample_replacements)(logits)
    corrupted, replaced = replaced_token_labels(input_ids, labels, sampled)
    return Corruption(corrupted, replaced, logits, positions)
