"""The README's LoRA example: the module names it gives work with peft on dense and low-rank students, and the
usual names fail on a low-rank one (so the README's warning stays true)."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model

from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDForSequenceClassification


def _student(**ranks) -> KRElectraKDForSequenceClassification:
    torch.manual_seed(0)
    return KRElectraKDForSequenceClassification(
        KRElectraKDConfig.from_preset("tiny", vocab_size=300, num_labels=2, **ranks)
    )


@pytest.mark.parametrize("ranks", [{}, {"ffn_rank": 8}, {"attention_rank": 8, "ffn_rank": 8}], ids=str)
def test_the_readme_lora_targets_train(ranks):
    model = _student(**ranks)
    targets = ["query.up", "value.up"] if model.config.attention_rank else ["query", "value"]  # as in the README
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=targets))
    trainable, total = model.get_nb_trainable_parameters()
    assert 0 < trainable < total / 2
    loss = model(input_ids=torch.randint(5, 300, (2, 8)), labels=torch.tensor([0, 1])).loss
    loss.backward()
    lora_grads = [p.grad for name, p in model.named_parameters() if "lora_" in name]
    assert lora_grads and all(grad is not None for grad in lora_grads)


def test_the_usual_names_fail_on_a_low_rank_student():
    with pytest.raises(ValueError, match="KRElectraKDLowRankLinear"):
        get_peft_model(_student(attention_rank=8), LoraConfig(task_type="SEQ_CLS", target_modules=["query", "value"]))
