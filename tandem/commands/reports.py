"""`tandem compare` and `tandem tensorboard`: what the runs produced, for people."""

import os

from pipelines.home import hold, scratch
from tandem.exits import FAILED, OK, UsageError
from tandem.logs import logs_to_file


def compare(args) -> int:
    home = os.path.abspath(args.home)
    with hold(home, "tandem compare", args.wait) as run_id, scratch(run_id), \
            logs_to_file(home, "compare", args.verbose) as (terminal, log):
        from reporting.compare import NoRunError
        from reporting.compare import compare as write_comparison

        print(f"tandem: comparing the latest blessed Keras and PyTorch models under {home}"
              + (f"; full log in {log}" if log else ""))
        try:
            md_path, html_path = write_comparison(home, args.dataset, os.path.abspath(args.out))
        except NoRunError as error:
            print(f"tandem: {error}", file=terminal)
            return FAILED
    print(f"tandem: wrote {md_path} and {html_path}")
    return OK


def tensorboard(args) -> int:
    import shutil

    from reporting.tensorboard import NoRunError, log_dirs

    try:
        dirs = log_dirs(os.path.abspath(args.home), args.dataset)
    except NoRunError as error:
        print(f"tandem: {error}")
        return FAILED
    if not shutil.which("tensorboard"):
        raise UsageError("tensorboard is not installed in this environment")
    for name, path in dirs.items():
        print(f"tandem: {name}: {path}")
    print(f"tandem: TensorBoard on http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    spec = ",".join(f"{name}:{path}" for name, path in dirs.items())
    os.execvp("tensorboard", ["tensorboard", "--logdir_spec", spec, "--host", args.host, "--port", str(args.port)])
