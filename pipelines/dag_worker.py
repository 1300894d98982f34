"""A worker process of pipelines/local_dag.py, which starts it:

    python -m pipelines.dag_worker IR_FILE EVENTS_FD VERBOSITY

Its own module, so that PyTorch is refused (pipelines/imports.py) before the runner's module
imports TFX.
"""

import sys

from pipelines.imports import without_pytorch

if __name__ == "__main__":
    without_pytorch()
    from absl import logging

    from pipelines.local_dag import work

    logging.set_verbosity(int(sys.argv[3]))  # the runner's: its --verbose
    work(sys.argv[1], int(sys.argv[2]))
