"""Training side of kr-electra-kd: tokenizer, tasks, teacher pre-training, distillation,
low-rank conversion, fine-tuning and evaluation. The model code itself lives in
`modeling_kr_electra_kd`, which is kept free of these imports so it can be copied to a Hub repo."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kr-electra-kd")
except PackageNotFoundError:  # run from a source tree that was never pip-installed
    __version__ = "0+unknown"
