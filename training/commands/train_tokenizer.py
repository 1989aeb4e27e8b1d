"""`kr-electra-kd train-tokenizer`: learn a morpheme-aware Korean WordPiece vocabulary; the library is training/tokenizer.py."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from training.corpus import DatasetArguments
from training.errors import bad_input, one_line_errors
from training.outputs import guards_outputs
from training.tokenizer import train_tokenizer_from_corpus


@dataclass
class TokenizerArguments:
    output_dir: str = field(metadata={"help": "Folder to save the tokenizer in (loads with AutoTokenizer)."})
    corpus: list[str] | None = field(
        default=None,
        metadata={
            "help": "Corpus files: UTF-8 text, one text per line, .txt or .gz (a folder: every such file in it). Or "
            "a dataset: --dataset_name."
        },
    )
    vocab_size: int = field(default=30000, metadata={"help": "Vocabulary size (KR-ELECTRA: 30,000)."})
    no_morphemes: bool = field(
        default=False, metadata={"help": "Plain WordPiece on raw text instead of morpheme-aware pieces (baseline)."}
    )
    max_lines: int | None = field(default=None, metadata={"help": "Read at most this many corpus lines."})
    min_frequency: int = field(default=2, metadata={"help": "Least corpus frequency of a multi-character piece."})
    model_max_length: int = field(default=512, metadata={"help": "Longest input the tokenizer will produce."})


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    from training.arguments import parse_command

    args, dataset = parse_command((TokenizerArguments, DatasetArguments), argv, "kr-electra-kd train-tokenizer")
    with bad_input(ValueError):
        tokenizer = train_tokenizer_from_corpus(
            args.corpus,
            args.output_dir,
            vocab_size=args.vocab_size,
            morpheme_aware=not args.no_morphemes,
            max_lines=args.max_lines,
            min_frequency=args.min_frequency,
            model_max_length=args.model_max_length,
            dataset=dataset,
        )
    print(f"Saved a {len(tokenizer)}-token tokenizer to {args.output_dir}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
