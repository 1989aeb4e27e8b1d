"""`python upload.py --help`: publish student folders to the Hub (= `kr-electra-kd upload`; the command is
training/commands/upload.py, the library training/publishing.py)."""

import sys

from training.commands.upload import main

if __name__ == "__main__":
    sys.exit(main(prog="upload.py"))
