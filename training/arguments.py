"""What every `kr-electra-kd` command shares about its command line and its output folder.

- `CommandParser`: `HfArgumentParser` whose mistakes end in one line: an unknown flag names the closest known one, a
  missing required option says which and points at `--help`. `--help` shows the command's own options, grouped, and
  only the most used Trainer options after a heading; `--help-all` shows every Trainer option. Help reads the
  same on every Python and install (`HelpFormatter`, `shown_default`), so the CLI can print a stored copy.
- `check_output_dir`: the check at the top of each command's `main()` that a finished model is never silently
  replaced (`--overwrite_output_dir` allows it, the Trainer convention), and that overwriting leaves no stale results.
- `check_model_source`: a `--model` that looks like a local folder but is not one is named as such (with the closest
  folder beside it), instead of transformers' "Repo id must use alphanumeric chars".
- `NUMBER_RULES`: the range of every numeric option of every command (Trainer's included), checked as the command line
  is parsed, so a bad number is one line ("--learning_rate must be > 0 (got -0.001)") before anything is loaded.

transformers is imported only when a parser is built, so importing this module costs nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from training.defaults import RANK_FIELDS, RESULTS_FILE
from training.outputs import FINISHED_MODEL_FILES, claim_output_folder
from training.provenance import ABSOLUTE_PATH, is_local, portable_path

# What describes a previous model in a folder: removed when that folder is overwritten, so that no old score or card
# is left beside new weights (upload.py would publish them together).
STALE_FILES = (
    RESULTS_FILE,
    "eval_results_*.json",
    "training_args.json",
    "distillation.json",
    "lowrank_report.json",
    "README.md",
)
STALE_FOLDERS = ("checkpoint-*", "checkpoints", "onnx")
# Trainer options shown by a short --help; --help-all shows the other ~150.
COMMON_TRAINER_OPTIONS = (
    "output_dir",
    "num_train_epochs",
    "max_steps",
    "learning_rate",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "warmup_steps",
    "weight_decay",
    "save_steps",
    "save_total_limit",
    "logging_steps",
    "eval_strategy",
    "seed",
    "bf16",
    "use_cpu",
    "resume_from_checkpoint",
    "report_to",
)
TRAINER_GROUP = "Trainer options (transformers.TrainingArguments)"


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The values a numeric option allows: `low`/`high` (inclusive unless `*_open`), plus the `special` values that
    mean something of their own (e.g. max_steps -1: train for the epochs instead)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    special: tuple[float, ...] = ()
    special_meaning: str = ""

    def allows(self, value: float) -> bool:
        if value in self.special:
            return True
        if value != value:  # NaN
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            text = f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        elif self.low is not None:
            text = f"{'>' if self.low_open else '>='} {self.low:g}"
        else:
            text = f"{'<' if self.high_open else '<='} {self.high:g}"
        if self.special:
            text += f" (or {', '.join(f'{value:g}' for value in self.special)}: {self.special_meaning})"
        return text


POSITIVE = Bounds(0, low_open=True)
AT_LEAST_ONE = Bounds(1)
NON_NEGATIVE = Bounds(0)
PROBABILITY = Bounds(0, 1)
SHARE = Bounds(0, 1, low_open=True)  # a share that cannot be nothing
OPEN_SHARE = Bounds(0, 1, low_open=True, high_open=True)

# What each numeric option of every command allows, by option name (one meaning per name across the commands): checked
# when the command line is parsed, before anything is read or loaded. A test checks that every numeric option of every
# command is listed. Lengths are also checked against the model's max_position_embeddings once its config is read.
NUMBER_RULES: dict[str, Bounds] = {
    # Trainer's own
    "learning_rate": POSITIVE,
    "per_device_train_batch_size": AT_LEAST_ONE,
    "per_device_eval_batch_size": AT_LEAST_ONE,
    "gradient_accumulation_steps": AT_LEAST_ONE,
    "eval_accumulation_steps": AT_LEAST_ONE,
    "num_train_epochs": POSITIVE,
    "max_steps": Bounds(1, special=(-1,), special_meaning="train for --num_train_epochs"),
    "warmup_steps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "adam_beta1": Bounds(0, 1, high_open=True),
    "adam_beta2": Bounds(0, 1, high_open=True),
    "adam_epsilon": POSITIVE,
    "max_grad_norm": NON_NEGATIVE,
    "label_smoothing_factor": PROBABILITY,
    "logging_steps": POSITIVE,
    "save_steps": POSITIVE,
    "eval_steps": POSITIVE,
    "save_total_limit": NON_NEGATIVE,
    "dataloader_num_workers": NON_NEGATIVE,
    "seed": NON_NEGATIVE,
    "data_seed": NON_NEGATIVE,
    # this package's
    "batch_size": AT_LEAST_ONE,
    "max_seq_length": AT_LEAST_ONE,
    "doc_stride": AT_LEAST_ONE,
    "n_best_size": AT_LEAST_ONE,
    "max_answer_length": AT_LEAST_ONE,
    "max_train_samples": AT_LEAST_ONE,
    "max_eval_samples": AT_LEAST_ONE,
    "max_corpus_lines": AT_LEAST_ONE,
    "max_lines": AT_LEAST_ONE,
    "vocab_size": Bounds(6),  # the 5 special tokens and at least one more
    "min_frequency": AT_LEAST_ONE,
    "model_max_length": AT_LEAST_ONE,
    **dict.fromkeys(RANK_FIELDS, AT_LEAST_ONE),
    "energy": SHARE,
    "target_mb": POSITIVE,
    "target_ms": POSITIVE,
    "batch": AT_LEAST_ONE,
    "seq": AT_LEAST_ONE,
    "opset": Bounds(14),  # scaled dot-product attention
    "tolerance": POSITIVE,
    "mlm_probability": OPEN_SHARE,
    "rtd_weight": NON_NEGATIVE,
    "generator_size_divisor": AT_LEAST_ONE,
    "embedding_init_lines": AT_LEAST_ONE,
    "embedding_init_std": POSITIVE,
    "embedding_init_window": AT_LEAST_ONE,
    "pretraining_dropout": Bounds(0, 1, high_open=True),
    "token_embedding_lr_scale": NON_NEGATIVE,
    "layerwise_lr_decay": SHARE,
    "reinit_top_layers": NON_NEGATIVE,
    "temperature": POSITIVE,
    "layer_map": AT_LEAST_ONE,
    "teacher_cache_mb": NON_NEGATIVE,
    "max_train_seconds": POSITIVE,
    "teacher_width": SHARE,
    "student_width": SHARE,
    "teacher_layers": AT_LEAST_ONE,
    "student_layers": AT_LEAST_ONE,
    "teacher_steps": AT_LEAST_ONE,
    "distill_steps": AT_LEAST_ONE,
    "finetune_epochs": POSITIVE,
    "finetune_learning_rate": POSITIVE,
    "finetune_warmup": NON_NEGATIVE,
}


# Rules by the start of an option's name, for options without their own entry: the distillation loss weights (one
# `--weight_<name>` per loss in training.distillation.losses.LOSSES).
PREFIX_RULES: dict[str, Bounds] = {"weight_": NON_NEGATIVE}


def number_rule(name: str) -> Bounds | None:
    """The NUMBER_RULES entry of option `name`, else the PREFIX_RULES entry its name starts with, else None."""
    if name in NUMBER_RULES:
        return NUMBER_RULES[name]
    return next((rule for prefix, rule in PREFIX_RULES.items() if name.startswith(prefix)), None)


def check_numbers(values: dict[str, Any]) -> str | None:
    """The one-line complaint about the first value in `values` (option name -> parsed value) that its NUMBER_RULES
    entry refuses, or None. None values (an option left unset) and booleans are not numbers here."""
    for name, value in values.items():
        rule = number_rule(name)
        if rule is None or value is None:
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if not rule.allows(item):
                return f"--{name} must be {rule} (got {item:g})"
    return None


def check_length(flag: str, value: int | None, limit: int, whose: str = "the model's") -> None:
    """Refuse (ValueError) a sequence length beyond the positions the model has embeddings for."""
    if value is not None and value > limit:
        raise ValueError(f"{flag} {value} exceeds {whose} max_position_embeddings ({limit}); pass at most {limit}.")


def overwrite_field() -> Any:
    """The `--overwrite_output_dir` field of a command's arguments dataclass (one definition for every command)."""
    return dataclasses.field(
        default=False,
        metadata={
            "help": "Replace a finished model already in the output folder (its weights, results, card and "
            "checkpoints). Without it the command refuses such a folder."
        },
    )


def _is_trainer_arguments(dtype: type) -> bool:
    return any(base.__name__ == "TrainingArguments" for base in dtype.__mro__)


def _group_title(dtype: type) -> str:
    if _is_trainer_arguments(dtype):
        return TRAINER_GROUP
    name = dtype.__name__.removesuffix("Arguments").removesuffix("Config")
    return f"{name.lower() or 'command'} options"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help in one form on every Python: an option's names, then its metavar once (Python 3.13's form; older ones
    repeat it after each alias). The stored short help (training/help/) then matches a live one on any Python."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        metavar = self._format_args(action, self._get_default_metavar_for_optional(action))
        return f"{', '.join(action.option_strings)} {metavar}"


def shown_default(value: Any) -> Any:
    """`value` as help shows it: the package's sample data as `sample:NAME` (as run files record it), not as this
    machine's path, so help reads the same on every install."""
    if isinstance(value, list):
        return [shown_default(item) for item in value]
    if isinstance(value, str) and ABSOLUTE_PATH.match(value):
        portable = portable_path(value, ".")
        return portable if portable and portable.startswith("sample:") else value
    return value


class CommandParser:
    """`HfArgumentParser` with one-line errors, closest-flag suggestions and a short --help.

    Mixed into `HfArgumentParser` when a parser is built (`command_parser`), so that importing this module does not
    import transformers (`kr-electra-kd tasks` reads this module and stays instant).
    """

    def _add_dataclass_arguments(self, dtype):
        # Each dataclass becomes a titled help group: the command's options first, Trainer's after a heading.
        if not hasattr(dtype, "_argument_group_name"):
            dtype = type(dtype.__name__, (dtype,), {"_argument_group_name": _group_title(dtype)})
        super()._add_dataclass_arguments(dtype)

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: {message} (see `{self.prog} --help`)")

    def option_names(self) -> list[str]:
        return [option for action in self._actions for option in action.option_strings]

    def unknown_options_message(self, remaining: list[str]) -> str:
        """One line naming each unknown flag with the closest known one."""
        known = [option for option in self.option_names() if option.startswith("--") and "-" not in option[2:]]
        parts = []
        for item in remaining:
            if not item.startswith("-"):
                continue
            flag = item.split("=", 1)[0]
            close = difflib.get_close_matches(flag.replace("-", "_").replace("__", "--", 1), known, n=1)
            parts.append(f"{flag} (did you mean {close[0]}?)" if close else flag)
        if not parts:
            return f"{self.prog}: unexpected value(s) {' '.join(remaining)}; options take the form --name value."
        return f"{self.prog}: unknown option {', '.join(parts)}; `{self.prog} --help` lists the options."

    def format_help(self) -> str:
        shown = [(action, action.default) for action in self._actions]
        for action, default in shown:
            action.default = shown_default(default)
        try:
            return super().format_help()
        finally:
            for action, default in shown:
                action.default = default

    def print_short_help(self) -> None:
        hidden = []
        for group in self._action_groups:
            if group.title != TRAINER_GROUP:
                continue
            for action in group._group_actions:
                if action.dest not in COMMON_TRAINER_OPTIONS and action.help != argparse.SUPPRESS:
                    hidden.append((action, action.help))
                    action.help = argparse.SUPPRESS
            group.title = f"{TRAINER_GROUP}, the most used ({len(hidden)} more: `{self.prog} --help-all`)"
        try:
            self.print_help()
        finally:
            for action, text in hidden:
                action.help = text
            for group in self._action_groups:
                if group.title.startswith(TRAINER_GROUP):
                    group.title = TRAINER_GROUP

    def parse(self, argv: list[str] | None, late_defaults: Callable[[Any], dict] | None = None) -> tuple:
        """The dataclasses of `argv`; exits with one line on any mistake, or after printing the help.

        `late_defaults(namespace)`: defaults that depend on other options (e.g. an output folder named after the
        model), set once those are known.
        """
        argv = list(sys.argv[1:] if argv is None else argv)
        if "--help-all" in argv:
            self.print_help()
            raise SystemExit(0)
        if "-h" in argv or "--help" in argv:
            self.print_short_help()
            raise SystemExit(0)
        namespace, remaining = self.parse_known_args(argv)
        if remaining:
            fail(self.unknown_options_message(remaining))
        complaint = check_numbers(vars(namespace))
        if complaint:
            fail(f"{self.prog}: {complaint}")
        if late_defaults is not None:
            self.set_defaults(**late_defaults(namespace))
        try:
            return self.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
        except ValueError as error:  # a dataclass's own validation (e.g. TrainingArguments.__post_init__)
            fail(f"{self.prog}: {str(error).strip().splitlines()[0]}")


@functools.cache
def _parser_class() -> type:
    """`CommandParser` on top of transformers' `HfArgumentParser` (built once, at the first parser)."""
    from transformers import HfArgumentParser

    return type("CommandParser", (CommandParser, HfArgumentParser), {"__module__": __name__})


def command_parser(dataclass_types: tuple[type, ...], prog: str, description: str | None = None) -> Any:
    """A `CommandParser` for `dataclass_types`, each in its own help group (Trainer's last)."""
    # --help-all is read before argparse sees the arguments (as an argparse option it would land in the results).
    epilog = f"`{prog} --help-all` shows every option." if any(map(_is_trainer_arguments, dataclass_types)) else None
    parser = _parser_class()(
        dataclass_types, prog=prog, description=description, epilog=epilog, formatter_class=HelpFormatter
    )
    parser.usage = _one_line_usage(parser, prog)
    return parser


def _one_line_usage(parser: argparse.ArgumentParser, prog: str) -> str:
    """A one-line usage (argparse's lists all ~170 options): the required options, then the rest as [options]."""
    required = [
        f"{action.option_strings[0]} {action.metavar or action.dest.upper()}"
        for action in parser._actions
        if action.required
    ]
    return " ".join([prog, *required, "[options]"])


def parse_command(
    dataclass_types: Iterable[type],
    argv: list[str] | None,
    prog: str,
    defaults: dict[str, Any] | None = None,
) -> tuple:
    """Parse `argv` into `dataclass_types` with `CommandParser` (and `defaults` for fields of any of them)."""
    dataclass_types = tuple(dataclass_types)
    parser = command_parser(dataclass_types, prog)
    if defaults:
        parser.set_defaults(**defaults)
    return parser.parse(argv)


def split_options(options: dict[str, Any], dataclass_types: Iterable[type], what: str) -> tuple[dict, ...]:
    """A library run's keyword options (named as its command's options) -> one dict per dataclass type, by field name,
    after the command line's number checks. An unknown name or a refused number raises ValueError."""
    problem = check_numbers(options)
    if problem:
        raise ValueError(problem)
    groups = [{f.name for f in dataclasses.fields(kind)} for kind in dataclass_types]
    unknown = sorted(set(options) - set().union(*groups))
    if unknown:
        raise ValueError(f"Unknown {what} option(s): {', '.join(unknown)}.")
    return tuple({key: value for key, value in options.items() if key in names} for names in groups)


def with_new_spellings(argv: list[str], old_spellings: Iterable[str] | Mapping[str, str], prog: str) -> list[str]:
    """`argv` with the deprecated flags among `old_spellings` in their new spelling, after one line on stderr saying
    so (a command whose flags were renamed keeps the old spellings working this way). `old_spellings`: old -> new
    flag, or kebab-case flags whose new spelling is the same name in snake_case."""
    if not isinstance(old_spellings, Mapping):
        old_spellings = {flag: "--" + flag[2:].replace("-", "_") for flag in old_spellings}
    modern, old = [], []
    for item in argv:
        flag, equals, value = item.partition("=")
        if flag in old_spellings:
            old.append(flag)
            flag = old_spellings[flag]
        modern.append(flag + equals + value)
    if old:
        new = ", ".join(old_spellings[flag] for flag in old)
        print(f"{prog}: {', '.join(old)}: old spelling, deprecated; use {new}.", file=sys.stderr)
    return modern


def fail(message: str) -> NoReturn:
    """A command-line mistake: one line on stderr, exit code 2 (argparse's)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def check_output_dir(output_dir: str | Path, overwrite: bool, checkpoints: str | Path | None = None) -> None:
    """Refuse (ValueError) an output folder that already holds a finished model, unless `overwrite`.

    `checkpoints`: a folder of this command's own `checkpoint-*` folders; when it holds one the run resumes from it
    (pretrain-teacher continues training that way). With `overwrite`, whatever described the previous model (results,
    card, training arguments, checkpoints) is removed first, so none of it is left beside the new weights.

    In a command run (`training.outputs.guards_outputs`) the folder is first locked for the run (a live run holding it
    is refused, naming its PID) and cleared of what killed runs left (a half-written final output, temporary files),
    so that a run killed while saving its final model is resumed, not refused.
    """
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--output_dir {folder} is a file, not a folder; pass a folder path.")
    claim_output_folder(folder)
    finished = [name for name in FINISHED_MODEL_FILES if (folder / name).is_file()]
    resumable = checkpoints is not None and any(Path(checkpoints).glob("checkpoint-*"))
    if overwrite and (finished or resumable):
        removed = _remove_stale(folder)
        if removed:
            print(f"Overwriting {folder}: removed {', '.join(removed)} (they described the previous model).")
        return
    if finished and not resumable:
        raise ValueError(
            f"{folder} already holds a finished model ({', '.join(finished)}); pass --overwrite_output_dir to "
            "replace it, or choose another --output_dir."
        )


def _remove_stale(folder: Path) -> list[str]:
    removed = []
    for pattern in STALE_FILES + STALE_FOLDERS:
        for path in sorted(folder.glob(pattern)):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path.name)
    return removed


def check_model_source(model: str, flag: str = "--model") -> None:
    """Raise ValueError for a `model` that names a local folder which is missing or not a saved model.

    A value is taken as a local path when `is_local` says so (it exists, or starts with `.`, `/`, `~` or a drive
    letter) or when it has more than one `/` (a Hub id is `name` or `org/name`); anything else is left to the Hub.
    """
    path = Path(model).expanduser()
    looks_local = is_local(model) or model.count("/") > 1
    if not looks_local:
        return
    if not path.exists():
        raise ValueError(f"{flag} {model}: no such folder{nearby_folder_hint(model)}; a Hub id has the form org/name.")
    if not path.is_dir():
        raise ValueError(f"{flag} {model} is a file; pass the model's folder (the one holding config.json).")
    if not (path / "config.json").is_file():
        raise ValueError(
            f"{flag} {model} has no config.json, so it is not a saved model; pass a folder written by save_pretrained "
            "(e.g. by `kr-electra-kd distill` or `finetune`)."
        )


def nearby_folder_hint(value: str) -> str:
    """' (did you mean `X`?)' naming the folder beside `value`'s place whose name is closest to it, or ''."""
    path = Path(value).expanduser()
    parent = path.parent
    try:
        siblings = sorted(child.name for child in parent.iterdir() if child.is_dir() and not child.name.startswith("."))
    except OSError:  # no such parent, or not readable
        return ""
    close = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.75)
    if not close:
        return ""
    suggestion = str(parent / close[0]) if str(parent) != "." else close[0]
    if value.startswith("./") and not suggestion.startswith("."):
        suggestion = f"./{suggestion}"
    return f" (did you mean `{suggestion}`?)"
