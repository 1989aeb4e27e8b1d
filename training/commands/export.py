"""`kr-electra-kd export`: export a model as ONNX (optionally int8) in a web-ready folder; the run lives in
training/exporting.py (`run_export`), the ONNX pieces in training/onnx_export.py."""

from __future__ import annotations

import sys

from training.arguments import parse_command
from training.errors import CommandError, bad_input, one_line_errors
from training.exporting import ExportArguments, ParityError, check_parity, prepare_export, write_export
from training.outputs import guards_outputs

__all__ = ["ExportArguments", "main"]


@one_line_errors
@guards_outputs
def main(argv: list[str] | None = None) -> int:
    (args,) = parse_command((ExportArguments,), argv, "kr-electra-kd export")
    with bad_input():
        model, tokenizer = prepare_export(args)
    files, output_names = write_export(args, model, tokenizer)
    try:
        check_parity(args, model, tokenizer, files, output_names)
    except ParityError as error:
        raise CommandError(str(error), code=1) from error
    return 0


if __name__ == "__main__":
    sys.exit(main())
