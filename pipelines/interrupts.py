"""Signals that stop a run: SIGINT arrives as KeyboardInterrupt, SIGTERM as Terminated.

Both are BaseExceptions, not Exceptions, so no `except Exception` on the way (TFX, Beam,
ours) swallows them; the CLI turns them into one line and exit 130 / 143. Import-light."""

import signal


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as KeyboardInterrupt is for SIGINT."""


class Interrupted(BaseException):
    """A run was stopped by signal `signum` while `component` ran."""

    def __init__(self, component: str | None, signum: int):
        self.component, self.signum = component, signum
        during = f" during {component}" if component else ""
        super().__init__(f"interrupted by {signal.Signals(signum).name}{during}")


def raise_on_sigterm() -> None:
    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
