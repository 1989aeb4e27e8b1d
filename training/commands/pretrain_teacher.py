"""`kr-electra-kd pretrain-teacher`: ELECTRA pre-training of a teacher from plain Korean text, on `Trainer`.

The objective (generator + discriminator, masking, token corruption) is training/electra_objective.py; the trainer
and the teacher folder are training/pretraining.py.

    kr-electra-kd pretrain-teacher --corpus corpus.txt --tokenizer tok --output_dir teacher --preset small-kd \\
        --max_steps 10000

The output folder holds the discriminator (the teacher: config, safetensors, code files, tokenizer) and, in
`generator/`, the generator. Checkpoints go to `output_dir/checkpoints`; a run restarted with the same output_dir
resumes from the newest complete one, which must have the same shape.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import (
    TrainingArguments,
)

from modeling_kr_electra_kd import (
    PRESETS,
    KRElectraKDConfig,
    KRElectraKDForMaskedLM,
    KRElectraKDForPreTraining,
    check_preset,
)
from training.arguments import check_length, check_output_dir, overwrite_field, parse_command
from training.corpus import CorpusError, streamed_corpus
from training.defaults import MLM_PROBABILITY
from training.electra_objective import (
    MASKING_SCHEMES,
    ElectraGeneratorDiscriminator,
    generator_config,
    masking_collator,
)
from training.errors import bad_input, one_line_errors
from training.loading import load_tokenizer
from training.outputs import atomic_output, bytes_of, guards_outputs
from training.pretraining import ElectraPreTrainer, discriminator_check, save_teacher
from training.tokenizer import check_tokenizer_matches_config
from training.trainer_common import (
    PRETRAINING_DEFAULTS,
    TrainTimer,
    max_train_seconds_field,
    parse_shape,
    resume_checkpoint,
    train_or_restore,
)


@dataclass
class PretrainArguments:
    corpus: list[str] = field(
        metadata={
            "help": "Korean text files (UTF-8, one text per line, .txt or .gz) or folders of them (every *.txt and "
            "*.gz file); streamed, never loaded whole."
        }
    )
    tokenizer: str = field(metadata={"help": "Tokenizer folder or Hub id (e.g. from `kr-electra-kd train-tokenizer`)."})
    preset: str = field(default="small-kd", metadata={"help": f"Teacher shape: {', '.join(PRESETS)}."})
    shape: str | None = field(
        default=None,
        metadata={"help": "Overrides of the preset as key=value pairs, e.g. 'hidden_size=128,num_hidden_layers=4'."},
    )
    max_corpus_lines: int | None = field(default=None, metadata={"help": "Use at most this many corpus lines."})
    max_seq_length: int = field(
        default=128, metadata={"help": "Length of the packed blocks (with --no_packing: texts are truncated to it)."}
    )
    packing: bool = field(
        default=True,
        metadata={
            "help": "Join consecutive texts into full blocks ([CLS] a [SEP] b [SEP] ...); --no_packing: one "
            "padded text per example."
        },
    )
    mlm_probability: float = field(
        default=MLM_PROBABILITY, metadata={"help": "Share of tokens masked for the generator."}
    )
    masking: str = field(
        default="electra",
        metadata={
            "help": "What masked tokens become: electra (85%% [MASK], 15%% unchanged) or bert (80%% [MASK], 10%% "
            "random token, 10%% unchanged).",
            "choices": list(MASKING_SCHEMES),
        },
    )
    rtd_weight: float = field(default=50.0, metadata={"help": "Weight of the discriminator loss (ELECTRA: 50)."})
    generator_size_divisor: int = field(default=4, metadata={"help": "Generator width = teacher width / this."})
    max_train_seconds: float | None = max_train_seconds_field()
    overwrite_output_dir: bool = overwrite_field()


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    args, training_args = parse_command(
        (PretrainArguments, TrainingArguments), argv, "kr-electra-kd pretrain-teacher", PRETRAINING_DEFAULTS
    )
    output_dir = Path(training_args.output_dir)
    training_args.output_dir = str(output_dir / "checkpoints")
    with bad_input():
        # a finished teacher with its checkpoints is resumed (training continues to a larger --max_steps)
        check_output_dir(output_dir, args.overwrite_output_dir, checkpoints=training_args.output_dir)
        check_preset(args.preset)
        tokenizer = load_tokenizer(args.tokenizer, "--tokenizer")
        config = KRElectraKDConfig.from_preset(
            args.preset,
            **{"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id, **parse_shape(args.shape)},
        )
        check_length("--max_seq_length", args.max_seq_length, config.max_position_embeddings, "the teacher's")
        check_tokenizer_matches_config(tokenizer, config)
        train_dataset = streamed_corpus(
            args.corpus,
            tokenizer,
            args.max_seq_length,
            args.max_corpus_lines,
            args.packing,
            training_args.seed,
            endless=True,
        )
        last = resume_checkpoint(training_args.output_dir, config)

    torch.manual_seed(training_args.seed)
    discriminator = KRElectraKDForPreTraining(config)
    generator = KRElectraKDForMaskedLM(generator_config(config, args.generator_size_divisor))
    model = ElectraGeneratorDiscriminator(discriminator, generator, rtd_weight=args.rtd_weight)
    collator = masking_collator(tokenizer, args.mlm_probability, args.masking, seed=training_args.seed)
    trainer = ElectraPreTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=collator,
        callbacks=[TrainTimer(args.max_train_seconds)],
    )
    with bad_input(CorpusError):  # a bad line deep in the streamed corpus is met only when training reaches it
        if (stopped := train_or_restore(trainer, last)) is not None:
            return stopped

    if trainer.is_world_process_zero():
        warning = discriminator_check(trainer.state.log_history)
        if warning:
            print(warning, file=sys.stderr)
        with atomic_output(output_dir, needed=bytes_of(model)) as staging:  # moved into place once complete
            save_teacher(staging, discriminator, tokenizer, generator)
        print(f"Saved the teacher (discriminator) to {output_dir} and its generator to {output_dir / 'generator'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
