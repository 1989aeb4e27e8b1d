"""KR-ELECTRA-KD: small Korean ELECTRA models with optional low-rank factors.

Importing this package registers the family with transformers' Auto classes, so in-process code can use
`AutoModel.from_pretrained(folder)`; saved folders also load without this package via `trust_remote_code=True`.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from .configuration_kr_electra_kd import (
    AUTO_MAP,
    CLASSIFIER_POOLINGS,
    LAYER_MATRICES,
    PRESETS,
    KRElectraKDConfig,
    check_preset,
)
from .modeling_kr_electra_kd import (
    CODE_FILES,
    PIPELINE_FILE,
    KRElectraKDFactorizedEmbedding,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    KRElectraKDForPreTrainingOutput,
    KRElectraKDForQuestionAnswering,
    KRElectraKDForSequenceClassification,
    KRElectraKDForTokenClassification,
    KRElectraKDLowRankLinear,
    KRElectraKDModel,
    KRElectraKDPreTrainedModel,
)
from .pipeline_kr_electra_kd import KRElectraKDQuestionAnsweringPipeline, extract_answers

AutoConfig.register(KRElectraKDConfig.model_type, KRElectraKDConfig, exist_ok=True)
for _auto_class, _model_class in (
    (AutoModel, KRElectraKDModel),
    (AutoModelForPreTraining, KRElectraKDForPreTraining),
    (AutoModelForMaskedLM, KRElectraKDForMaskedLM),
    (AutoModelForSequenceClassification, KRElectraKDForSequenceClassification),
    (AutoModelForTokenClassification, KRElectraKDForTokenClassification),
    (AutoModelForQuestionAnswering, KRElectraKDForQuestionAnswering),
):
    _auto_class.register(KRElectraKDConfig, _model_class, exist_ok=True)

__all__ = [
    "AUTO_MAP",
    "CLASSIFIER_POOLINGS",
    "CODE_FILES",
    "PIPELINE_FILE",
    "KRElectraKDQuestionAnsweringPipeline",
    "extract_answers",
    "LAYER_MATRICES",
    "PRESETS",
    "check_preset",
    "KRElectraKDConfig",
    "KRElectraKDForMaskedLM",
    "KRElectraKDForPreTraining",
    "KRElectraKDForPreTrainingOutput",
    "KRElectraKDForQuestionAnswering",
    "KRElectraKDForSequenceClassification",
    "KRElectraKDFactorizedEmbedding",
    "KRElectraKDForTokenClassification",
    "KRElectraKDLowRankLinear",
    "KRElectraKDModel",
    "KRElectraKDPreTrainedModel",
]
