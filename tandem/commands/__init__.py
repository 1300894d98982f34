"""One module per group of commands; tandem/cli.py parses arguments and calls them.
Each command is `name(args) -> exit code`."""
