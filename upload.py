"""`python upload.py --help`: publish student folders to the Hub (the logic is training/commands/upload.py)."""

import sys

from training.commands.upload import main

if __name__ == "__main__":
    sys.exit(main(prog="upload.py"))
