"""`kr-electra-kd demo`: serve an export folder and the demo page on 127.0.0.1 (library: training/web_server.py)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.arguments import parse_command
from training.errors import bad_input, one_line_errors
from training.web_server import NODE_MODULES, serve_demo


@dataclass
class DemoArguments:
    model: str = field(metadata={"help": "An export folder (written by kr-electra-kd export)."})
    port: int = field(default=8000, metadata={"help": "Port on 127.0.0.1 (0: any free port)."})
    runtime: str | None = field(
        default=None,
        metadata={"help": "node_modules holding the web runtime (default: web/node_modules of this checkout)."},
    )


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    (args,) = parse_command((DemoArguments,), argv, "kr-electra-kd demo")
    folder = Path(args.model)
    with bad_input():
        server, task = serve_demo(folder, Path(args.runtime) if args.runtime else NODE_MODULES, args.port)
    print(f"{task} demo of {folder} at {server.url}/?model={folder.name} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
