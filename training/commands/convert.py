"""`kr-electra-kd convert`: convert a dense model to low rank by truncated SVD; the library is training/lowrank.py."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from modeling_kr_electra_kd import PRESETS, check_preset
from training.arguments import check_output_dir, overwrite_field, parse_command
from training.defaults import RANK_FIELDS
from training.loading import HEADS, load_model, load_tokenizer
from training.lowrank import convert_to_low_rank


@dataclass
class ConvertArguments:
    model: str = field(metadata={"help": "Dense model to convert: a folder or Hub id (this family, ELECTRA or BERT)."})
    output_dir: str = field(metadata={"help": "Where to write the low-rank model (a Hub-ready folder)."})
    preset: str | None = field(
        default=None,
        metadata={"help": f"Take the three ranks from a preset ({', '.join(PRESETS)}); explicit ranks override."},
    )
    embedding_rank: int | None = field(default=None, metadata={"help": "Rank of the word-embedding matrix."})
    attention_rank: int | None = field(default=None, metadata={"help": "Rank of Q, K, V and attention output."})
    ffn_rank: int | None = field(default=None, metadata={"help": "Rank of both feed-forward matrices."})
    energy: float | None = field(
        default=None,
        metadata={"help": "Instead of ranks: keep this share (0-1] of each matrix's spectral energy, per group."},
    )
    head: str = field(
        default="auto", metadata={"help": f"Which head to load: auto (the checkpoint's own), {', '.join(HEADS)}."}
    )
    overwrite_output_dir: bool = overwrite_field()


def main(argv: list[str] | None = None) -> int:
    (args,) = parse_command((ConvertArguments,), argv, "kr-electra-kd convert")
    ranks = dict.fromkeys(RANK_FIELDS)
    try:
        # a fine-tuned folder's results.json and card would otherwise stay beside the new weights
        check_output_dir(args.output_dir, args.overwrite_output_dir)
        if args.preset is not None:
            check_preset(args.preset)
            ranks.update({key: PRESETS[args.preset].get(key) for key in ranks})
        ranks.update({key: getattr(args, key) for key in ranks if getattr(args, key) is not None})
        model = load_model(args.model, head=args.head)
        converted, report = convert_to_low_rank(model, energy=args.energy, **ranks)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = Path(args.output_dir)
    converted.save_pretrained(output)
    _copy_tokenizer(args.model, output)
    (output / "lowrank_report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    print(report.to_markdown())
    print(f"\nSaved to {output} (max relative reconstruction error {report.max_relative_error:.4f}).")
    return 0


def _copy_tokenizer(model: str, output: Path) -> None:
    """Keep the source's tokenizer beside the converted weights so the folder is complete."""
    try:
        tokenizer = load_tokenizer(model)
    except ValueError:
        return
    from training.tokenizer import save_tokenizer

    save_tokenizer(tokenizer, output)


if __name__ == "__main__":
    sys.exit(main())
