"""Training side of kr-electra-kd: tokenizer, tasks, teacher pre-training, distillation,
low-rank conversion, fine-tuning and evaluation. The model code itself lives in
`modeling_kr_electra_kd`, which is kept free of these imports so it can be copied to a Hub repo."""
