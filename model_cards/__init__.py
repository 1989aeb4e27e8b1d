"""The model card template (template.md), package data read by training/model_card.py."""
