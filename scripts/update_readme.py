"""Regenerate the generated sections of README.md (never typed by hand).

Each section sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers:
- `presets`: parameters and fp32 safetensors size of every preset at a 30,000-word vocabulary, measured by saving
  the encoder, beside the sizes Kim & Choi (Entropy 2025) report.
- `results`: the committed benchmark results under benchmarks/results/ (see benchmarks/README.md).
- `compat`: which transformers releases load saved folders, from benchmarks/results/compat.md
  (written by `python scripts/compat_check.py`, which also rewrites this section).

    python scripts/update_readme.py          # rewrite README.md
    python scripts/update_readme.py --check  # exit 1 if README.md is stale (used by the tests)
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def presets_table() -> str:
    from modeling_kr_electra_kd import PRESETS, KRElectraKDConfig, KRElectraKDModel
    from training.defaults import PAPER_SIZES, RANK_FIELDS

    rows = [
        "| preset | layers | hidden | FFN | emb | embedding_rank | attention_rank | ffn_rank | parameters | "
        "fp32 size (MB) | paper: parameters | paper: size (MB) | size vs paper |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (paper_params, paper_mb) in PAPER_SIZES.items():
        config = KRElectraKDConfig.from_preset(name, vocab_size=30000)
        model = KRElectraKDModel(config)
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            size_mb = (Path(folder) / "model.safetensors").stat().st_size / 1e6
        params = sum(p.numel() for p in model.parameters())
        ranks = [PRESETS[name].get(key) or "dense" for key in RANK_FIELDS]
        rows.append(
            f"| `{name}` | {config.num_hidden_layers} | {config.hidden_size} | {config.intermediate_size} | "
            f"{config.embedding_size} | {ranks[0]} | {ranks[1]} | {ranks[2]} | {params / 1e6:.1f}M | {size_mb:.1f} | "
            f"{paper_params} | {paper_mb} | {100 * (size_mb - paper_mb) / paper_mb:+.1f}% |"
        )
    return "\n".join(rows)


def results_section() -> str:
    from benchmarks.report import readme_results  # written by the benchmarks; absent until they exist

    return readme_results()


def compat_section() -> str:
    table = REPO / "benchmarks" / "results" / "compat.md"
    if not table.is_file():
        return "Not measured yet: run `python scripts/compat_check.py`."
    return table.read_text(encoding="utf-8").strip()


SECTIONS: dict[str, Callable[[], str]] = {
    "presets": presets_table,
    "results": results_section,
    "compat": compat_section,
}


def render(text: str, names: tuple[str, ...] = tuple(SECTIONS)) -> str:
    for name in names:
        build = SECTIONS[name]
        pattern = re.compile(rf"(<!-- generated:{name} -->).*?(<!-- /generated:{name} -->)", re.S)
        if pattern.search(text):
            body = build()
            text = pattern.sub(lambda match, body=body: f"{match.group(1)}\n{body}\n{match.group(2)}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    current = README.read_text(encoding="utf-8")
    updated = render(current)
    if args.check:
        if updated != current:
            print("README.md is stale: run `python scripts/update_readme.py`.", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
