"""The one way every command loads a model, its config or its tokenizer, with every bad source reported in one line.

`load_model(source, head)` loads a model of this family, or a stock transformers ELECTRA/BERT checkpoint converted
(exactly, still dense) into one, from a local folder or a Hub id. `load_config` is the cheap first step: it resolves
`source` (a folder, or a Hub id that can be fetched) and reads only its config, so a command can check its options
against the model (e.g. `--max_seq_length` against `max_position_embeddings`) before reading any data or weights.
`load_tokenizer` loads a tokenizer without remote code. Each turns what can be wrong with the source into a
ValueError of one line that names the input and the fix:

- a local path that is missing, a file, or a folder without config.json (`check_model_source`);
- a name that is neither a local folder nor reachable on the Hub: "no local folder `lf3-nsmx` (did you mean
  `lf3-nsmc`?) and the Hub is unreachable", the suggestion taken from the folders beside the path;
- a damaged or truncated `model.safetensors` (what safetensors reports as a header error): "model.safetensors in
  FOLDER is damaged (...); re-download or re-save it".

The Hub path is transformers' own (`from_pretrained` with a Hub id, its cache, HF_HUB_OFFLINE); only its failures are
translated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

import modeling_kr_electra_kd
from modeling_kr_electra_kd import KRElectraKDConfig, KRElectraKDPreTrainedModel
from training.arguments import check_model_source, nearby_folder_hint
from training.head_swap import from_pretrained_with_head_swap_line
from training.heads import HEADS as HEAD_TABLE
from training.heads import head_of_architecture
from training.provenance import is_local

WEIGHTS_FILE = "model.safetensors"

# Head name (training.heads.HEADS; "auto" picks the head from the checkpoint's `architectures`) -> this family's class.
HEADS: dict[str, type[KRElectraKDPreTrainedModel]] = {
    name: getattr(modeling_kr_electra_kd, head.class_name) for name, head in HEAD_TABLE.items()
}
SUPPORTED_MODEL_TYPES = ("kr-electra-kd", "electra", "bert")

# Fields of this family's config that a stock one lacks but a load may override (`finetune --classifier_pooling`).
OWN_CONFIG_FIELDS = ("classifier_pooling",)
# Config fields carried from a stock ELECTRA/BERT config (BERT has no embedding_size: it equals hidden_size).
_SHARED_CONFIG_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
    "classifier_dropout",
    "id2label",
    "label2id",
    "problem_type",
    *OWN_CONFIG_FIELDS,
)


# --------------------------------------------------------------------------------------------------------------------
# Resolving a source
# --------------------------------------------------------------------------------------------------------------------


def _causes(error: BaseException) -> list[str]:
    """The class names along `error`'s cause/context chain (transformers wraps huggingface_hub's errors in OSError)."""
    names = []
    while error is not None and len(names) < 10:
        names.append(type(error).__name__)
        error = error.__cause__ or error.__context__
    return names


def _source_error(source: str, flag: str, error: Exception) -> str:
    """One line for a source transformers could not resolve."""
    causes = _causes(error)
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if is_local(source):
        return f"{flag} {source} cannot be read as a model ({first_line}); pass a folder written by save_pretrained."
    hint = nearby_folder_hint(source)
    if "LocalEntryNotFoundError" in causes or "OfflineModeIsEnabled" in causes or any("Connect" in c for c in causes):
        return (
            f"{flag}: no local folder `{source}`{hint} and the Hub is unreachable; check the folder name, or the "
            "network (or the Hub cache, with HF_HUB_OFFLINE=1) for a Hub id."
        )
    if "RepositoryNotFoundError" in causes or "not a valid model identifier" in first_line:
        return (
            f"{flag}: no local folder `{source}`{hint} and no Hub model `{source}`; check the name (a Hub id has the "
            "form org/name; a private one needs `hf auth login`)."
        )
    if "GatedRepoError" in causes:
        return f"{flag} {source} is a gated Hub model: accept its terms on the Hub and log in (`hf auth login`)."
    if "EntryNotFoundError" in causes or "does not appear to have a file named config.json" in first_line:
        return f"{flag} {source} on the Hub has no config.json, so it is not a model of transformers."
    return f"{flag} {source}: {first_line}"


def load_config(source: str | Path, flag: str = "--model") -> PretrainedConfig:
    """The config of the model at `source` (folder or Hub id), read without loading weights; ValueError in one line
    when `source` is neither a model folder nor a model on a reachable Hub, or when a folder's weights are damaged
    (transformers' own error would come only later, as a 30-line traceback)."""
    source = str(source)
    check_model_source(source, flag)
    if Path(source).is_dir():
        check_weights(source)  # a header read: a damaged file is named before any data or weights are read
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=True)
    except (OSError, ValueError) as error:
        raise ValueError(_source_error(source, flag, error)) from None
    if Path(source).is_dir():
        check_config_fits_weights(source, config)
    return config


def damaged_weights_message(folder: str | Path, error: Exception) -> str:
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"{WEIGHTS_FILE} in {folder} is damaged ({detail}); re-download or re-save it."


def check_weights(folder: str | Path) -> None:
    """Raise ValueError when `folder`'s model.safetensors is truncated or not a safetensors file (its header is read
    and checked against the file's size; no tensor is loaded). A folder without the file is left to the loader."""
    from safetensors import safe_open

    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        return
    try:
        with safe_open(str(path), "pt"):
            pass
    except (SafetensorError, OSError) as error:
        raise ValueError(damaged_weights_message(folder, error)) from None


def check_config_fits_weights(folder: str | Path, config: PretrainedConfig) -> None:
    """Raise ValueError when a folder of this family holds weights of other shapes than its config.json describes
    (e.g. an edited vocab_size): the config's model is built on the meta device (no memory, no initialisation) and its
    tensor shapes compared with model.safetensors' header, before transformers' LOAD REPORT and RuntimeError."""
    import torch
    from safetensors import safe_open

    path = Path(folder) / WEIGHTS_FILE
    if config.model_type != KRElectraKDConfig.model_type or not path.is_file():
        return
    try:
        head = head_of(config)
    except ValueError:
        return  # an unknown architecture is load_model's to refuse
    with torch.device("meta"):
        expected = {name: tuple(value.shape) for name, value in HEADS[head](config).state_dict().items()}
    with safe_open(str(path), "pt") as weights:
        saved = {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}
    differing = [name for name in saved if name in expected and saved[name] != expected[name]]
    if differing:
        name = differing[0]
        others = f" (and {len(differing) - 1} more tensors)" if len(differing) > 1 else ""
        raise ValueError(
            f"config.json in {folder} does not fit its {WEIGHTS_FILE}: {name} is {list(saved[name])} in the weights "
            f"but {list(expected[name])} by the config{others} (vocab_size={config.vocab_size}, "
            f"hidden_size={config.hidden_size}); restore the config.json saved with these weights."
        )


# --------------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------------


def head_of(model_or_config: PreTrainedModel | PretrainedConfig) -> str:
    """The head name (a key of HEADS) of a model or of the first architecture named in a config."""
    if isinstance(model_or_config, PreTrainedModel):
        return head_of_architecture(type(model_or_config).__name__).name
    return head_of_architecture((getattr(model_or_config, "architectures", None) or ["Model"])[0]).name


def _check_head(head: str) -> None:
    if head != "auto" and head not in HEADS:
        raise ValueError(f"Unknown head {head!r}; choose one of: auto, {', '.join(HEADS)}.")


def load_model(
    source: str | Path, head: str = "auto", flag: str = "--model", **config_overrides: Any
) -> KRElectraKDPreTrainedModel:
    """Load a KR-ELECTRA-KD model, or a stock ELECTRA/BERT checkpoint converted (exactly, still dense) into one.

    `head` is one of HEADS or "auto" (the checkpoint's own head). `config_overrides` (e.g. `num_labels=3`,
    `id2label=...`) are applied to the loaded config; a head the checkpoint lacks starts freshly initialised, as with
    `AutoModelFor*.from_pretrained`. Every bad source is a one-line ValueError naming `flag` and the input.
    """
    _check_head(head)
    source = str(source)
    config = load_config(source, flag)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"{source} is a {config.model_type!r} checkpoint; supported teachers and students are "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}."
        )
    head = head_of(config) if head == "auto" else head
    try:
        if config.model_type == KRElectraKDConfig.model_type:
            return from_pretrained_with_head_swap_line(HEADS[head], source, **config_overrides)
        import transformers

        stock_auto = getattr(transformers, HEAD_TABLE[head].auto_class)
        # a field only this family has would reach the stock model's __init__: set on its config, read on conversion
        ours_only = {key: config_overrides.pop(key) for key in OWN_CONFIG_FIELDS if key in config_overrides}
        stock = from_pretrained_with_head_swap_line(stock_auto, source, **config_overrides)
        for key, value in ours_only.items():
            setattr(stock.config, key, value)
    except SafetensorError as error:  # a Hub download that is damaged in the cache
        raise ValueError(damaged_weights_message(source, error)) from None
    except OSError as error:
        raise ValueError(_source_error(source, flag, error)) from None
    return convert_stock_model(stock)


def load_tokenizer(source: str | Path, flag: str = "--model") -> PreTrainedTokenizerBase:
    """The tokenizer saved with the model at `source`, without remote code (this family's config is registered in
    this process, and the tokenizer itself is a plain `PreTrainedTokenizerFast`)."""
    from transformers import AutoTokenizer

    source = str(source)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(
            f"{flag} {source} has no usable tokenizer ({first_line}); pass the folder or Hub id of the model's "
            "tokenizer."
        ) from None


# --------------------------------------------------------------------------------------------------------------------
# Stock ELECTRA / BERT -> this family
# --------------------------------------------------------------------------------------------------------------------


def _config_from_stock(stock_config: PretrainedConfig) -> KRElectraKDConfig:
    fields = {name: getattr(stock_config, name) for name in _SHARED_CONFIG_FIELDS if hasattr(stock_config, name)}
    fields["embedding_size"] = getattr(stock_config, "embedding_size", stock_config.hidden_size)
    if stock_config.model_type == "bert":
        fields["classifier_activation"] = "tanh"  # BERT's pooler
    fields.setdefault("num_labels", getattr(stock_config, "num_labels", 2))
    if "id2label" in fields:
        fields.pop("num_labels")  # implied by id2label
    return KRElectraKDConfig(**fields)


def _stock_key_to_ours(key: str, model_type: str, head: str) -> str | None:
    """Map a stock ELECTRA/BERT weight name to ours; None drops it."""
    if model_type == "electra":
        return key  # same module names (see modeling_kr_electra_kd.py)
    # BERT: encoder prefix, and the pooler (dense + tanh) becomes the classification head's dense layer.
    if key.startswith("bert."):
        key = "electra." + key[len("bert.") :]
    if key.startswith("electra.pooler.") or key.startswith("pooler."):
        if head != "sequence-classification":
            return None
        return "classifier.dense." + key.rsplit(".", 1)[-1]
    if head == "sequence-classification" and key.startswith("classifier."):
        return "classifier.out_proj." + key.rsplit(".", 1)[-1]
    return key


def convert_stock_model(stock: PreTrainedModel) -> KRElectraKDPreTrainedModel:
    """Convert a loaded stock ELECTRA/BERT model into the same, still dense, model of this family (exact)."""
    model_type = stock.config.model_type
    if model_type not in ("electra", "bert"):
        raise ValueError(f"Cannot convert a {model_type!r} model; supported: electra, bert.")
    head = head_of(stock)
    if model_type == "bert" and head in ("pretraining", "masked-lm"):
        raise ValueError(
            f"BERT {type(stock).__name__} has no ELECTRA equivalent head; convert BertModel or a fine-tuned BERT "
            "classification/QA head, or use an ELECTRA generator/discriminator."
        )
    target_class = HEADS[head]
    config = _config_from_stock(stock.config)
    model = target_class(config)

    state = {}
    for key, value in stock.state_dict().items():
        if key.endswith("position_ids") or key.endswith("token_type_ids"):
            continue  # non-persistent buffers
        new_key = _stock_key_to_ours(key, model_type, head)
        if new_key is None:
            continue
        state[new_key] = value
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"Converting {type(stock).__name__} failed: {error}") from None
    missing = [key for key in missing if not key.endswith("generator_lm_head.weight")]  # tied
    if missing or unexpected:
        raise ValueError(
            f"Converting {type(stock).__name__} failed: weights missing {missing[:5]}, unexpected {unexpected[:5]}."
        )
    return model.eval() if not stock.training else model
