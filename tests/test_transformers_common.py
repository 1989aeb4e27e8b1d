"""transformers' own common model tests (`ModelTesterMixin`, `ConfigTester`) against every KR-ELECTRA-KD head.

The two mixins come from the sdist of the installed transformers version (see transformers_common_tests.py: fetched
with pip, cached outside the checkout). They run for three configs of the same tiny shape: dense; low-rank with
`embedding_rank = attention_rank = ffn_rank = 8`; and per-matrix ranks written by the code `convert --target_mb` uses
(`RankPlan.config_fields`). Run them alone with `python -m pytest -q tests/test_transformers_common.py`.

This module skips nothing itself. The mixin skips, with its own reasons, the tests that do not apply to a family like
this one: hardware and optional libraries this machine lacks (accelerator, flash-attention, deepspeed, kernels, MPS);
architecture it does not have (decoder/seq2seq heads, KV cache, RoPE, sliding windows, experts, sub-configs, composite
models, position-embedding resizing); checkpoint conversion mappings and tensor-parallel plans (no converted
checkpoints, a 14M-parameter model), fp32-kept modules; and the `capture_outputs` / `_can_record_outputs` hooks:
the heads collect hidden states and attention maps themselves, because those hooks exist only in recent transformers
releases and a saved folder's code must run on older ones.
"""

from __future__ import annotations

import os
import sys
import unittest
from unittest import mock

import pytest
import torch
from transformers_common_tests import CommonTestsUnavailable, load_common_tests

from modeling_kr_electra_kd import (
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    KRElectraKDForQuestionAnswering,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDModel,
)

try:
    ModelTesterMixin, ConfigTester = load_common_tests()
except CommonTestsUnavailable as error:
    if os.environ.get("CI"):
        raise
    pytest.skip(f"transformers' common tests are unavailable: {error}", allow_module_level=True)

pytestmark = pytest.mark.slow

ALL_HEADS = (
    KRElectraKDModel,
    KRElectraKDForPreTraining,
    KRElectraKDForMaskedLM,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDForQuestionAnswering,
)


def matrix_ranks_fields(num_layers: int) -> dict:
    """Config fields as `convert --target_mb` writes them: `RankPlan.config_fields` over a plan that gives each
    matrix its own rank (unequal within a layer, some matrices left dense) and the embedding a rank."""
    from training.rank_budget import EMBEDDING, RankPlan

    ranks: dict[str, int | None] = {EMBEDDING: 6}
    for layer in range(num_layers):
        ranks.update(
            {
                f"{layer}.query": 8,
                f"{layer}.key": 4 + layer,
                f"{layer}.value": None if layer else 12,
                f"{layer}.attention_output": 16,
                f"{layer}.ffn_intermediate": 5,
                f"{layer}.ffn_output": None if layer == 0 else 10,
            }
        )
    dense = KRElectraKDConfig(num_hidden_layers=num_layers)
    return RankPlan(ranks).config_fields(dense)


class KRElectraKDModelTester:
    """Adapted from transformers' ElectraModelTester: hidden 32, 2 layers, a 99-word vocabulary, 7 tokens."""

    def __init__(self, parent, rank_fields: dict | None = None, batch_size: int = 13, seq_length: int = 7):
        self.parent = parent
        self.rank_fields = rank_fields or {}
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.is_training = True
        self.use_input_mask = True
        self.use_token_type_ids = True
        self.use_labels = True
        self.vocab_size = 99
        self.embedding_size = 16
        self.hidden_size = 32
        self.num_hidden_layers = 2
        self.num_attention_heads = 4
        self.intermediate_size = 37
        self.max_position_embeddings = 512
        self.type_vocab_size = 16
        self.num_labels = 3

    def get_config(self) -> KRElectraKDConfig:
        return KRElectraKDConfig(
            vocab_size=self.vocab_size,
            embedding_size=self.embedding_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            num_labels=self.num_labels,
            **self.rank_fields,
        )

    def prepare_config_and_inputs_for_common(self):
        from transformers_tests.test_modeling_common import ids_tensor, random_attention_mask

        shape = [self.batch_size, self.seq_length]
        inputs = {
            "input_ids": ids_tensor(shape, self.vocab_size),
            "token_type_ids": ids_tensor(shape, self.type_vocab_size),
            "attention_mask": random_attention_mask(shape),
        }
        return self.get_config(), inputs


def labels_for(model_class, batch_size: int, seq_length: int) -> dict:
    """Training labels of each head (transformers' `_prepare_for_class` finds them by class name in its own Auto
    mappings, which do not list this family's classes)."""
    per_token = torch.zeros(batch_size, seq_length, dtype=torch.long)
    per_sequence = torch.zeros(batch_size, dtype=torch.long)
    return {
        KRElectraKDForPreTraining: {"labels": per_token},
        KRElectraKDForMaskedLM: {"labels": per_token},
        KRElectraKDForTokenClassification: {"labels": per_token},
        KRElectraKDForSequenceClassification: {"labels": per_sequence},
        KRElectraKDForQuestionAnswering: {"start_positions": per_sequence, "end_positions": per_sequence},
    }.get(model_class, {})


class CommonTests(ModelTesterMixin):
    """The mixin with this family's tester; subclasses pick the rank fields."""

    all_model_classes = ALL_HEADS
    rank_fields: dict = {}

    def setUp(self):
        self.model_tester = KRElectraKDModelTester(self, self.rank_fields)
        self.config_tester = ConfigTester(self, config_class=KRElectraKDConfig, hidden_size=36)
        # The mixin knows a bare encoder (no loss, no training test) by its name in transformers' own model mapping;
        # it learns this family's the same way, for the duration of the test.
        common = sys.modules[ModelTesterMixin.__module__]
        names = {**common.MODEL_MAPPING_NAMES, KRElectraKDConfig.model_type: KRElectraKDModel.__name__}
        patcher = mock.patch.object(common, "MODEL_MAPPING_NAMES", names)
        patcher.start()
        self.addCleanup(patcher.stop)

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels:
            device = inputs_dict["input_ids"].device
            labels = labels_for(model_class, self.model_tester.batch_size, self.model_tester.seq_length)
            inputs_dict.update({name: value.to(device) for name, value in labels.items()})
        return inputs_dict

    def test_config(self):
        self.config_tester.run_common_tests()


class DenseCommonTest(CommonTests, unittest.TestCase):
    rank_fields = {}


class LowRankCommonTest(CommonTests, unittest.TestCase):
    rank_fields = {"embedding_rank": 8, "attention_rank": 8, "ffn_rank": 8}


class MatrixRanksCommonTest(CommonTests, unittest.TestCase):
    rank_fields = matrix_ranks_fields(num_layers=2)


class PreLayerNormCommonTest(CommonTests, unittest.TestCase):
    rank_fields = {"layer_norm_position": "pre"}


class PreLayerNormLowRankCommonTest(CommonTests, unittest.TestCase):
    rank_fields = {"layer_norm_position": "pre", "embedding_rank": 8, "attention_rank": 8, "ffn_rank": 8}
