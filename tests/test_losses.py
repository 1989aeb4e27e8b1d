"""Known-answer tests of each training loss: soft-target KL x T^2 for every head kind (classes, replaced-token
detection, question answering, per token, regression), attention KL, hidden-state MSE through a projection, MiniLMv2's
relation loss, replaced-token-detection labels, and the masking scheme of pre-training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from modeling_kr_electra_kd import (
    KRElectraKDConfig,
    KRElectraKDForPreTraining,
    KRElectraKDForQuestionAnswering,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
)
from training.distillation import attention_kl, head_kind, hidden_mse, soft_target_kl
from training.distillation.losses import (
    CLASSIFICATION,
    LOSSES,
    QUESTION_ANSWERING,
    REGRESSION,
    REPLACED_TOKEN_DETECTION,
    TOKEN_CLASSIFICATION,
)
from training.distillation.minilm import relation_kl
from training.electra_objective import constant_prediction_loss, masking_collator, replaced_token_labels
from training.pretraining import discriminator_check


def test_soft_target_kl_is_kl_times_temperature_squared():
    temperature = 2.0
    # teacher logits [ln 9, 0] at T=2 -> probabilities [3/4, 1/4]; the student's [0, 0] -> [1/2, 1/2]
    teacher = torch.tensor([[math.log(9.0), 0.0]])
    student = torch.zeros(1, 2)
    expected = (0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)) * temperature**2
    assert soft_target_kl(student, teacher, temperature, CLASSIFICATION).item() == pytest.approx(expected, rel=1e-6)
    # two rows: the mean of the rows' KL (the second row matches its teacher: KL 0)
    both = soft_target_kl(torch.cat([student, teacher]), torch.cat([teacher, teacher]), temperature, CLASSIFICATION)
    assert both.item() == pytest.approx(expected / 2, rel=1e-6)


def test_replaced_token_detection_kl_excludes_padding():
    # one logit per token: [not replaced, replaced] = softmax([0, logit / T]); the padded token's logits are far apart
    student = torch.tensor([[0.0, 5.0]])
    teacher = torch.tensor([[math.log(9.0) * 2, -5.0]])
    mask = torch.tensor([[1, 0]])
    # token 1: teacher P(replaced) = 9/10 at T=2, student 1/2
    expected = (0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5)) * 4
    assert soft_target_kl(student, teacher, 2.0, REPLACED_TOKEN_DETECTION, mask).item() == pytest.approx(
        expected, rel=1e-6
    )


def _kl(p: list[float], q: list[float]) -> float:
    """KL(p || q) of two distributions written out."""
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def test_question_answering_kl_is_the_mean_of_start_and_end_over_real_positions():
    # [batch 1, seq 3], the third position is padding (its logits would dominate if it counted); T = 1
    mask = torch.tensor([[1, 1, 0]])
    teacher_start, student_start = torch.tensor([[math.log(3.0), 0.0, 50.0]]), torch.tensor([[0.0, 0.0, -50.0]])
    teacher_end, student_end = torch.tensor([[0.0, 0.0, 50.0]]), torch.tensor([[0.0, math.log(3.0), 50.0]])
    start = _kl([0.75, 0.25], [0.5, 0.5])  # softmax([ln 3, 0]) = [3/4, 1/4] against uniform
    end = _kl([0.5, 0.5], [0.25, 0.75])
    loss = soft_target_kl((student_start, student_end), (teacher_start, teacher_end), 1.0, QUESTION_ANSWERING, mask)
    assert loss.item() == pytest.approx((start + end) / 2, rel=1e-5)


def test_per_token_kl_averages_the_real_tokens_only():
    # [batch 1, seq 2, classes 2] at T = 2; token 2 is padding with far-apart logits
    teacher = torch.tensor([[[math.log(9.0), 0.0], [30.0, -30.0]]])  # token 1 at T=2: softmax([ln 3, 0]) = [3/4, 1/4]
    student = torch.tensor([[[0.0, 0.0], [-30.0, 30.0]]])
    mask = torch.tensor([[1, 0]])
    expected = _kl([0.75, 0.25], [0.5, 0.5]) * 2.0**2
    assert soft_target_kl(student, teacher, 2.0, TOKEN_CLASSIFICATION, mask).item() == pytest.approx(expected, rel=1e-5)


def test_regression_soft_target_is_the_mse_to_the_teacher_prediction_without_temperature():
    student, teacher = torch.tensor([[1.0], [2.0]]), torch.tensor([[0.5], [3.0]])
    expected = ((1.0 - 0.5) ** 2 + (2.0 - 3.0) ** 2) / 2  # 0.625, whatever the temperature
    for temperature in (1.0, 4.0):
        assert soft_target_kl(student, teacher, temperature, REGRESSION).item() == pytest.approx(expected, rel=1e-6)


def test_the_head_kind_is_given_not_guessed_from_shapes():
    # the same [batch, seq] logits read as replaced-token detection (per token, two outcomes) and as one class
    # distribution per example give different losses; an unknown kind is refused
    student, teacher, mask = torch.zeros(1, 2), torch.tensor([[math.log(9.0) * 2, 0.0]]), torch.tensor([[1, 1]])
    per_token = soft_target_kl(student, teacher, 2.0, REPLACED_TOKEN_DETECTION, mask).item()
    per_example = soft_target_kl(student, teacher, 2.0, CLASSIFICATION, mask).item()
    assert per_token == pytest.approx((_kl([0.1, 0.9], [0.5, 0.5]) + 0.0) / 2 * 4, rel=1e-5)
    assert per_example == pytest.approx(_kl([0.9, 0.1], [0.5, 0.5]) * 4, rel=1e-5)
    with pytest.raises(ValueError, match="Unknown head kind"):
        soft_target_kl(student, teacher, 2.0, "sequence-classification")


@pytest.mark.parametrize(
    "head, num_labels, kind",
    [
        (KRElectraKDForPreTraining, 2, REPLACED_TOKEN_DETECTION),
        (KRElectraKDForSequenceClassification, 3, CLASSIFICATION),
        (KRElectraKDForSequenceClassification, 1, REGRESSION),
        (KRElectraKDForTokenClassification, 5, TOKEN_CLASSIFICATION),
        (KRElectraKDForQuestionAnswering, 2, QUESTION_ANSWERING),
    ],
)
def test_the_trainer_reads_the_head_kind_from_the_model_class(head, num_labels, kind):
    model = head(KRElectraKDConfig.from_preset("tiny", vocab_size=16, num_labels=num_labels))
    assert head_kind(model) == kind


def test_attention_kl_on_a_two_token_example_with_padding():
    # [batch 1, heads 1, query 2, key 2]; the second token is padding: its query row must not count
    teacher = torch.tensor([[[[0.75, 0.25], [0.5, 0.5]]]])
    student = torch.tensor([[[[0.5, 0.5], [0.99, 0.01]]]])
    mask = torch.tensor([[1, 0]])
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert attention_kl(student, teacher, mask).item() == pytest.approx(expected, rel=1e-5)
    # with different head counts the heads are averaged first: two student heads whose mean is the one above
    two_heads = torch.cat([student, student], dim=1)
    assert attention_kl(two_heads, teacher.repeat(1, 3, 1, 1), mask).item() == pytest.approx(expected, rel=1e-5)


def test_hidden_mse_through_a_projection_with_padding():
    projection = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        projection.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    student = torch.tensor([[[1.0, 2.0], [100.0, 100.0]]])  # second token: padding
    teacher = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    mask = torch.tensor([[1, 0]])
    # projected first token [1, 2, 3] vs [1, 0, 0]: squared errors 0, 4, 9 -> mean 13/3
    assert hidden_mse(projection(student), teacher, mask).item() == pytest.approx(13 / 3, rel=1e-6)


def test_replaced_token_labels_count_a_correct_sample_as_original_and_skip_padding():
    input_ids = torch.tensor([[2, 4, 4, 9, 3, 0]])  # [CLS] [MASK] [MASK] x [SEP] [PAD]; 4 = [MASK]
    labels = torch.tensor([[-100, 7, 8, -100, -100, -100]])
    sampled = torch.tensor([7, 5])  # the first masked token is sampled right, the second wrong
    corrupted, replaced = replaced_token_labels(input_ids, labels, sampled)
    assert corrupted.tolist() == [[2, 7, 5, 9, 3, 0]]
    assert replaced.tolist() == [[0, 0, 1, 0, 0, 0]]
    # the discriminator's loss is over the non-padding tokens only
    torch.manual_seed(0)
    discriminator = KRElectraKDForPreTraining(KRElectraKDConfig.from_preset("tiny", vocab_size=16)).eval()
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
    outputs = discriminator(corrupted, attention_mask=attention_mask, labels=replaced)
    logits = outputs.logits[0, :5]
    expected = nn.functional.binary_cross_entropy_with_logits(logits, replaced[0, :5].float())
    assert outputs.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    flipped = replaced.clone()
    flipped[0, 5] = 1  # a label on the padding changes nothing
    assert discriminator(corrupted, attention_mask=attention_mask, labels=flipped).loss.item() == outputs.loss.item()


@pytest.mark.parametrize(("masking", "mask_share", "random_share"), [("electra", 0.85, 0.0), ("bert", 0.8, 0.1)])
def test_masking_schemes(masking, mask_share, random_share, tiny_tokenizer):
    """ELECTRA (default): 85% of the chosen tokens become [MASK], 15% stay; BERT: 80% [MASK], 10% random, 10% stay."""
    collator = masking_collator(tiny_tokenizer, mlm_probability=0.15, masking=masking, seed=0)
    generator = torch.Generator().manual_seed(0)
    rows = [{"input_ids": [2, *torch.randint(5, 200, (126,), generator=generator).tolist(), 3]} for _ in range(200)]
    batch = collator(rows)
    chosen = batch["labels"] != -100
    original = torch.tensor([row["input_ids"] for row in rows])
    as_mask = (batch["input_ids"] == tiny_tokenizer.mask_token_id) & chosen
    unchanged = (batch["input_ids"] == original) & chosen
    total = int(chosen.sum())
    assert total / original.numel() == pytest.approx(0.15, abs=0.01)
    assert int(as_mask.sum()) / total == pytest.approx(mask_share, abs=0.025)
    assert int(unchanged.sum()) / total == pytest.approx(1 - mask_share - random_share, abs=0.025)


def test_constant_prediction_loss_is_the_binary_entropy_of_the_replaced_share_over_real_tokens():
    replaced = torch.tensor([[1, 0, 0, 0], [1, 0, 1, 1]])
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])  # 2 of the 6 real tokens replaced: r = 1/3
    expected = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))  # 0.6365
    assert constant_prediction_loss(replaced, attention_mask).item() == pytest.approx(expected, abs=1e-6)
    assert constant_prediction_loss(replaced).item() == pytest.approx(math.log(2), abs=1e-6)  # 4 of 8: r = 1/2
    assert constant_prediction_loss(torch.zeros(2, 3, dtype=torch.long)).item() == pytest.approx(0.0, abs=1e-5)


def test_discriminator_check_warns_only_within_the_margin_of_the_constant_prediction():
    def history(rtd, constant):
        return [{"step": 5, "loss": 1.0}, {"step": 10, "loss": 1.0, "loss_rtd": rtd, "loss_rtd_constant": constant}]

    assert "0.354" in discriminator_check(history(0.354, 0.369))  # the learning curve's 6,000-step teacher
    assert discriminator_check(history(0.34, 0.37)) is not None  # 8% below: still within the 10% margin
    assert discriminator_check(history(0.30, 0.37)) is None  # 19% below: learned
    assert discriminator_check([{"step": 5, "loss": 1.0}]) is None  # nothing logged


def test_minilm_relation_loss_is_zero_for_identical_states_and_ignores_padding():
    torch.manual_seed(0)
    qkv = tuple(torch.randn(2, 5, 8) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert relation_kl(qkv, qkv, 2, mask).item() == pytest.approx(0.0, abs=1e-6)
    # what sits at padding positions changes nothing
    student = tuple(torch.randn(2, 5, 4) for _ in range(3))
    noisy = tuple(state.clone() for state in student)
    for state in noisy:
        state[1, 3:] = 100.0
    assert relation_kl(noisy, qkv, 2, mask).item() == pytest.approx(relation_kl(student, qkv, 2, mask).item(), rel=1e-5)


def test_minilm_relation_loss_on_a_hand_case():
    # one relation head, width 1, two tokens. Teacher X = [1, 0]: X X^T / sqrt(1) = [[1, 0], [0, 0]] -> row 1
    # softmax([1, 0]) = [e / (e + 1), 1 / (e + 1)], row 2 uniform. Student X = [0, 0]: both rows uniform.
    teacher = torch.tensor([[[1.0], [0.0]]])
    student = torch.zeros(1, 2, 1)
    p = math.e / (math.e + 1)
    row_one = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    expected = 3 * (row_one + 0.0) / 2  # Q, K and V relations (the same states), averaged over the two queries
    loss = relation_kl((student,) * 3, (teacher,) * 3, 1, torch.tensor([[1, 1]]))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_minilm_relation_loss_matches_the_formula_for_two_heads_of_different_widths():
    """Student width 4 and teacher width 6, two relation heads (d_r = 2 and 3): the direct formula, head by head."""
    torch.manual_seed(1)
    student = tuple(torch.randn(1, 3, 4) for _ in range(3))
    teacher = tuple(torch.randn(1, 3, 6) for _ in range(3))

    def relation(states, head, width):
        x = states[0, :, head * width : (head + 1) * width]  # [seq, d_r]
        return torch.softmax(x @ x.T / math.sqrt(width), dim=-1)

    expected = 0.0
    for s, t in zip(student, teacher):
        for head in range(2):
            r_s, r_t = relation(s, head, 2), relation(t, head, 3)
            expected += (r_t * (r_t.log() - r_s.log())).sum(-1).mean().item() / 2
    assert relation_kl(student, teacher, 2, None).item() == pytest.approx(expected, rel=1e-5)
    assert LOSSES["minilm"].weight == 0.0 and LOSSES["minilm"].needs == {"qkv"}


@pytest.mark.parametrize(
    "ranks",
    [{}, {"attention_rank": 4}, {"attention_rank": 4, "matrix_ranks": {"1.query": 3, "1.key": 5}}],
    ids=["dense", "low-rank (fused Q, K, V)", "low-rank, unequal ranks"],
)
def test_capture_qkv_records_each_layers_query_key_and_value(ranks):
    """MiniLM reads these: known answer = the layer's query / key / value modules applied one by one to the layer's
    input. The low-rank attention computes them fused, so module hooks alone never fired there (a KeyError in
    `distill --weight_minilm 1` for every low-rank student)."""
    from training.distillation import capture_qkv

    torch.manual_seed(0)
    config = KRElectraKDConfig(
        vocab_size=50, embedding_size=16, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, **ranks,
    )  # fmt: skip
    model = KRElectraKDForPreTraining(config).eval()
    input_ids = torch.randint(5, 50, (2, 7))
    with torch.no_grad(), capture_qkv(model, [0, 1]) as captured:
        hidden_states = model(input_ids, output_hidden_states=True).hidden_states
    assert sorted(captured) == [0, 1]
    for index in (0, 1):
        attention = model.base_model.encoder.layer[index].attention.self
        with torch.no_grad():
            expected = [module(hidden_states[index]) for module in (attention.query, attention.key, attention.value)]
        for got, want in zip(captured[index], expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert "project_qkv" not in vars(model.base_model.encoder.layer[0].attention.self)  # the method is restored
