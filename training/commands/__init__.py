"""One thin module per `kr-electra-kd` command: its argument dataclasses and `main(argv)`, which parses the arguments
and calls the library modules of `training`. A command never imports another command; no library imports a command
(tests/test_layout.py checks both)."""
