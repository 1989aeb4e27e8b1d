"""Regenerate training/help/<command>.txt, each command's short `--help` (never typed by hand).

`kr-electra-kd <command> --help` prints the stored file instead of building the parser, which imports transformers
and torch (5-10 s). Run this after changing a command's options, its arguments dataclasses, or the COMMANDS list;
a test fails, naming the command, while a file is stale.

    python scripts/update_help.py          # rewrite training/help/
    python scripts/update_help.py --check  # exit 1 if a file is stale, missing or left from a removed command
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that training/help/ is up to date")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from training.cli import COMMANDS, HELP_DIR, render_help

    stale = []
    for command in COMMANDS:
        path = HELP_DIR / f"{command}.txt"
        text = render_help(command)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not args.check:
                HELP_DIR.mkdir(exist_ok=True)
                path.write_text(text, encoding="utf-8")
    orphans = [path for path in HELP_DIR.glob("*.txt") if path.stem not in COMMANDS]
    for path in orphans if not args.check else ():
        path.unlink()
    changed = [path.relative_to(REPO).as_posix() for path in stale + orphans]
    if args.check and changed:
        print(f"stale: {', '.join(changed)}; run `python scripts/update_help.py`.", file=sys.stderr)
        return 1
    print(f"{'updated' if changed else 'up to date'}: {', '.join(changed) or HELP_DIR.relative_to(REPO).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
