"""What a command reads: `--data` and `--input-pattern`, `--schema`, the dataset."""

import fnmatch
import glob
import os
import re

from tandem.exits import UsageError


def dataset(args):
    from components import datasets

    return datasets.load(args.dataset)


def bundled(args, home: str):
    """A function returning the dataset's bundled data (prepared into the home if needed)."""
    return lambda: dataset(args).bundled_csv(os.path.join(home, "data"))


def input_files(data: str | None, pattern: str | None = None, bundled_data=None) -> tuple[str, str]:
    """--data PATH [--input-pattern P] -> (input_base folder, input_pattern) for ExampleGen.
    `bundled_data`: a function that returns the bundled data's path, for no --data."""
    path = os.path.abspath(data or bundled_data())
    if os.path.isfile(path) and not pattern:
        if not os.access(path, os.R_OK):
            raise UsageError(f"--data {data}: the file is not readable")
        return os.path.dirname(path), glob.escape(os.path.basename(path))
    if os.path.isdir(path):
        pattern = pattern or "*.csv"
        # {SPAN}, {VERSION}, {YYYY}… are ExampleGen's placeholders: any value matches here.
        if not glob.glob(os.path.join(glob.escape(path), re.sub(r"\{[A-Z]+\}", "*", pattern))):
            raise UsageError(f"no files match {pattern!r} in {path}")
        return path, pattern
    raise UsageError(f"--data {data}: no such {'folder' if pattern else 'file or folder'}")


def schema_file(args) -> str:
    path = args.schema or dataset(args).schema_path
    if not os.path.isfile(path):
        raise UsageError(f"--schema {args.schema}: no such file")
    return path


def writable_home(home: str) -> str:
    """The home as an absolute path, created if needed; a usage error if it cannot be written."""
    home = os.path.abspath(home)
    try:
        os.makedirs(home, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--home {home}: cannot create it ({error.strerror})") from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise UsageError(f"--home {home}: not writable")
    return home


def input_bytes(input_base: str, pattern: str) -> int:
    """The bytes of CSV a run reads: the files `pattern` matches in `input_base`, of the newest
    span only where the pattern has {SPAN} (ExampleGen reads the latest span)."""
    span = "\x00"
    regex = re.compile(fnmatch.translate(re.sub(r"\{[A-Z]+\}", lambda m: span if m[0] == "{SPAN}" else "*",
                                                pattern)).replace(re.escape(span), r"(\d+)"))
    sizes: dict[int, int] = {}
    for root, _, names in os.walk(input_base):
        for name in names:
            path = os.path.join(root, name)
            found = regex.match(os.path.relpath(path, input_base))
            if found:
                key = int(found[1]) if found.groups() else 0
                sizes[key] = sizes.get(key, 0) + os.path.getsize(path)
    return sizes[max(sizes)] if sizes else 0


def beam_options(args, local_home: bool) -> tuple[str, ...] | None:
    """A --runner preset's options, then --beam-arg's (None: neither given, the config's local
    defaults apply); a usage error for what Beam would reject, drop or run wrongly, before
    any work (`tandem run`, and `tandem compile`, whose pods would run them)."""
    from pipelines.runners import RunnerError, beam_arg_problems, from_args

    try:
        options = from_args(args, local_home=local_home)
    except RunnerError as error:
        raise UsageError(str(error)) from None
    problems = beam_arg_problems(options) if options else []
    if problems:
        raise UsageError("; ".join(problems))
    return options
