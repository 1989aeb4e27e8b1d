"""The training hot paths a GPU must not wait on, and the Trainer options chosen from the device.

- Pre-training's and distillation's losses are those of the boolean-indexing code they replace (to 1e-6, same seed).
- A training step's `compute_loss` reads nothing back from the device but the number of masked tokens (one
  `nonzero`): no `.item()` / `float(tensor)`; the loss parts are read only when a line is logged.
- `device_trainer_defaults`: pinned memory, workers, bf16 and the fused AdamW only with a GPU (CUDA faked here).
- One DataLoader worker streams the same batches as none (so resuming stays exact).
"""

from __future__ import annotations

from collections import Counter
from unittest import mock

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import TrainingArguments

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForMaskedLM, KRElectraKDForPreTraining
from training.corpus import streamed_corpus
from training.distillation import DistillationConfig, DistillationTrainer
from training.electra_objective import (
    ElectraGeneratorDiscriminator,
    constant_prediction_loss,
    generator_config,
    masking_collator,
)
from training.pretraining import ElectraPreTrainer
from training.trainer_common import STREAMING_PREFETCH_BATCHES, device_trainer_defaults


class DeviceReads(TorchDispatchMode):
    """Counts the ops that make the host wait for the device: scalar reads (`.item()`, `float(tensor)`, `bool(...)`)
    and `nonzero` (its output size depends on the data), and boolean-mask indexing (a hidden `nonzero`)."""

    def __init__(self):
        super().__init__()
        self.counts: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in ("_local_scalar_dense", "nonzero", "masked_select"):
            self.counts[name] += 1
        if name in ("index", "index_put", "index_put_"):
            indices = args[1] if len(args) > 1 else []
            if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices):
                self.counts["boolean_index"] += 1
        return func(*args, **(kwargs or {}))


def _reference_pretraining_loss(model: ElectraGeneratorDiscriminator, input_ids, attention_mask, labels) -> dict:
    """Pre-training's loss as written before the sync-free rewrite (boolean indexing, validated Categorical)."""
    masked = labels != -100
    hidden = model.generator.electra(input_ids, attention_mask=attention_mask).last_hidden_state
    logits = model.generator.prediction_logits(hidden[masked])
    mlm_loss = nn.functional.cross_entropy(logits.float(), labels[masked])
    with torch.no_grad():
        sampled = torch.distributions.Categorical(logits=logits.float()).sample()
    original = torch.where(masked, labels, input_ids)
    corrupted = input_ids.clone()
    corrupted[masked] = sampled
    replaced = (corrupted != original).long()
    judged = model.discriminator(input_ids=corrupted, attention_mask=attention_mask, labels=replaced)
    active = replaced.bool()[attention_mask.bool()].float().mean().clamp(1e-7, 1 - 1e-7)
    constant = -(active * active.log() + (1 - active) * (1 - active).log())
    return {
        "loss": mlm_loss + model.rtd_weight * judged.loss,
        "mlm_loss": mlm_loss,
        "rtd_loss": judged.loss,
        "rtd_constant_loss": constant,
    }


def _pair(tokenizer) -> ElectraGeneratorDiscriminator:
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    return ElectraGeneratorDiscriminator(
        KRElectraKDForPreTraining(config), KRElectraKDForMaskedLM(generator_config(config))
    )


def _masked_batch(tokenizer, korean_texts, size: int = 8) -> dict:
    features = [tokenizer(text, truncation=True, max_length=48) for text in korean_texts[:size]]
    for feature in features:
        feature.pop("token_type_ids", None)
    return masking_collator(tokenizer, seed=3)(features)


def test_pretraining_loss_equals_the_boolean_indexing_version(tiny_tokenizer, korean_texts):
    model = _pair(tiny_tokenizer)
    batch = _masked_batch(tiny_tokenizer, korean_texts)
    assert (batch["attention_mask"] == 0).any() and (batch["labels"] != -100).any()  # padding and masked tokens
    torch.manual_seed(7)
    expected = _reference_pretraining_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    torch.manual_seed(7)  # the same draws of replacement tokens
    outputs = model(**batch)
    for name, value in expected.items():
        assert outputs[name].item() == pytest.approx(value.item(), abs=1e-6), name
    # and the gradient of the whole loss flows as before
    grads = torch.autograd.grad(outputs["loss"], model.generator.electra.embeddings.word_embeddings.weight)[0]
    torch.manual_seed(7)
    reference = _reference_pretraining_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    expected_grads = torch.autograd.grad(reference["loss"], model.generator.electra.embeddings.word_embeddings.weight)
    torch.testing.assert_close(grads, expected_grads[0], atol=1e-6, rtol=1e-5)


def test_constant_prediction_loss_without_boolean_indexing():
    replaced = torch.tensor([[1, 0, 0, 1], [0, 0, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])  # the second row's replaced tokens are padding
    share = torch.tensor(2 / 6)
    expected = -(share * share.log() + (1 - share) * (1 - share).log())
    with DeviceReads() as reads:
        loss = constant_prediction_loss(replaced, mask)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert not reads.counts


def _training_args(tmp_path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path),
        report_to="none",
        use_cpu=True,
        remove_unused_columns=False,
        dataloader_pin_memory=False,
        logging_steps=2,
    )


def test_a_pretraining_step_reads_back_only_the_masked_count(tiny_tokenizer, korean_texts, tmp_path):
    trainer = ElectraPreTrainer(model=_pair(tiny_tokenizer), args=_training_args(tmp_path))
    batch = _masked_batch(tiny_tokenizer, korean_texts)
    trainer.model.train()
    with DeviceReads() as reads:
        trainer.compute_loss(trainer.model, batch)
        trainer.compute_loss(trainer.model, batch)
    assert reads.counts["_local_scalar_dense"] == 0  # the loss parts stay on the device between logs
    assert reads.counts["nonzero"] == 2  # one per step: how many tokens were masked
    # the discriminator's own RTD loss (the modeling file) keeps its boolean indexing: 2 per step
    assert reads.counts["boolean_index"] <= 4
    # read back when a line is logged: the mean of the two steps
    logs = {"loss": 1.0}
    with mock.patch("transformers.Trainer.log"):
        trainer.log(logs)
    assert set(logs) == {"loss", "loss_mlm", "loss_rtd", "loss_rtd_constant"}
    assert all(isinstance(value, float) for value in logs.values())


def _distillation_trainer(tokenizer, tmp_path, with_generator: bool = False, **weights) -> DistillationTrainer:
    """A one-layer tiny student of the tiny teacher pair, with the given loss weights."""
    pair = _pair(tokenizer)
    student_config = KRElectraKDConfig.from_preset(
        "tiny", vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, num_hidden_layers=1
    )
    return DistillationTrainer(
        model=KRElectraKDForPreTraining(student_config),
        args=_training_args(tmp_path),
        teacher=pair.discriminator,
        generator=pair.generator if with_generator else None,
        distillation=DistillationConfig(**weights),
    )


def test_a_distillation_step_reads_back_only_the_masked_count(tiny_tokenizer, korean_texts, tmp_path):
    trainer = _distillation_trainer(tiny_tokenizer, tmp_path, with_generator=True, weight_embedding=1.0)
    batch = _masked_batch(tiny_tokenizer, korean_texts)
    trainer.model.train()
    with DeviceReads() as reads:
        trainer.compute_loss(trainer.model, batch)
    assert reads.counts == Counter({"nonzero": 1})


@pytest.mark.parametrize("weight_attention, maps", [(0.0, False), (1.0, True)])
def test_the_student_asks_for_attention_maps_only_when_a_loss_reads_them(
    weight_attention, maps, tiny_tokenizer, korean_texts, tmp_path
):
    """Maps force the eager attention path; without the attention loss the student runs the fused SDPA kernels."""
    trainer = _distillation_trainer(tiny_tokenizer, tmp_path, weight_attention=weight_attention)
    _, outputs = trainer.compute_loss(trainer.model, _masked_batch(tiny_tokenizer, korean_texts), return_outputs=True)
    assert (outputs.attentions is not None) is maps
    assert outputs.hidden_states is not None  # the hidden-state loss still reads them


def test_rtd_loss_over_real_tokens_equals_electras_boolean_indexing(tiny_tokenizer):
    """The discriminator's masked-sum loss equals stock ELECTRA's `loss_fct(logits[active], labels[active])`."""
    torch.manual_seed(0)
    config = KRElectraKDConfig.from_preset("tiny", vocab_size=len(tiny_tokenizer), num_hidden_layers=1)
    model = KRElectraKDForPreTraining(config).eval()
    input_ids = torch.randint(5, len(tiny_tokenizer), (3, 12))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, 7:] = 0
    attention_mask[2, 3:] = 0
    labels = torch.randint(0, 2, (3, 12))
    outputs = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    active = attention_mask.reshape(-1) == 1
    reference = torch.nn.BCEWithLogitsLoss()(outputs.logits.reshape(-1)[active], labels.reshape(-1)[active].float())
    torch.testing.assert_close(outputs.loss, reference, rtol=0, atol=1e-6)


def test_device_defaults_on_cpu_pin_nothing_and_start_no_worker(tmp_path):
    with mock.patch("torch.cuda.is_available", return_value=False):
        options = device_trainer_defaults(streamed=True)
    assert options == {"dataloader_pin_memory": False}
    args = TrainingArguments(output_dir=str(tmp_path), **options)
    assert args.dataloader_num_workers == 0 and args.dataloader_pin_memory is False


@pytest.mark.parametrize("capability, bf16", [((9, 0), True), ((7, 0), False)])
def test_device_defaults_on_a_gpu(capability, bf16):
    with (
        mock.patch("torch.cuda.is_available", return_value=True),
        mock.patch("torch.cuda.get_device_capability", return_value=capability),
    ):
        streamed = device_trainer_defaults(streamed=True)
        task = device_trainer_defaults()
    assert streamed["dataloader_pin_memory"] is True and task["dataloader_pin_memory"] is True
    assert streamed["optim"] == "adamw_torch_fused" and streamed["logging_nan_inf_filter"] is False
    assert streamed.get("bf16", False) is bf16 and streamed.get("tf32", False) is bf16
    # one worker prefetching for a streamed corpus; a tokenized task set needs none
    assert streamed["dataloader_num_workers"] == 1
    assert streamed["dataloader_prefetch_factor"] == STREAMING_PREFETCH_BATCHES
    assert "dataloader_num_workers" not in task


def test_one_worker_streams_the_same_batches_at_every_run(tiny_tokenizer, fixtures_dir):
    """A resumed run skips the batches its checkpoint trained on by reading the stream again: with the same worker
    count, the stream must be the same at every run. (Unshuffled, one worker reads exactly the main process's order;
    shuffled, datasets gives a worker its own buffer seed, so a run resumed with another worker count differs.)"""

    def first_batches(workers: int, shuffle_seed: int | None) -> list[list[int]]:
        corpus = streamed_corpus([fixtures_dir / "corpus.txt"], tiny_tokenizer, 32, shuffle_seed=shuffle_seed)
        loader = torch.utils.data.DataLoader(
            corpus,
            batch_size=4,
            num_workers=workers,
            collate_fn=lambda rows: tiny_tokenizer.pad(rows, return_tensors="pt"),
        )
        return [batch["input_ids"].tolist() for _, batch in zip(range(5), loader)]

    shuffled = first_batches(1, 0)
    assert len(shuffled) == 5 and shuffled == first_batches(1, 0)
    assert first_batches(1, None) == first_batches(0, None)
