"""One home for the constants several modules share: rank field names, the paper's model sizes, learning rates and
the masking share (the distillation loss weights live with the losses, in training.distillation.losses). A library
module: it imports nothing from the package.

`modeling_kr_electra_kd/` cannot import `training`, so its presets and config keep their own literals."""

from __future__ import annotations

# The groups of matrices whose ranks are chosen together, and each group's config field.
RANK_GROUPS = ("embedding", "attention", "ffn")
RANK_FIELDS = tuple(f"{group}_rank" for group in RANK_GROUPS)  # ("embedding_rank", "attention_rank", "ffn_rank")

# Kim & Choi (Entropy 2025): parameters and fp32 size (MB) of the teacher and each student, by preset.
PAPER_SIZES = {
    "teacher-base": ("110M", 432),
    "small-kd": ("14M", 53),
    "small-lf-v1": ("13M", 35),
    "small-lf-v2": ("11M", 30),
    "small-lf-v3": ("4M", 18),
}

# Learning rates. Three fine-tuning defaults exist on purpose (each was chosen for its setting); changing one changes
# results and needs a measured run first.
FINETUNE_LEARNING_RATE = 5e-5  # `finetune` command: transformers' Trainer default, for full-size models
RECIPE_FINETUNE_LEARNING_RATE = 1e-3  # recipe / quickstart: tiny CPU-scale students (diverged once in a measured run)
BENCHMARK_FINETUNE_LEARNING_RATE = 2e-4  # benchmarks/reproduce.py's scales
# Teacher pre-training and distillation. A 1e-3 peak (Cramming, Izsak et al.) was measured on the teacher's learning
# curve (750 steps, 3 seeds): lower MLM loss, but 78.69 on NSMC against 79.75, worse on every seed.
PRETRAINING_LEARNING_RATE = 5e-4

# Share of tokens chosen for masking (BERT/ELECTRA), in pre-training and --corrupt_inputs.
MLM_PROBABILITY = 0.15

# The results file `finetune` and `evaluate` write into a model folder (read by `card`, `upload`, the recipe).
RESULTS_FILE = "results.json"

# --student_init values that build a student here rather than loading a trained one.
BUILT_STUDENT_INITS = ("random", "teacher-layers")
