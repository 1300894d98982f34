"""Signals that stop a run: SIGINT arrives as KeyboardInterrupt, SIGTERM as Terminated.

Both are BaseExceptions, not Exceptions, so no `except Exception` on the way (TFX, Beam,
ours) swallows them; the CLI turns them into one line and exit 130 / 143. Import-light."""

import os
import signal
import threading
from contextlib import contextmanager


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


_EXCEPTION = {signal.SIGINT: KeyboardInterrupt, signal.SIGTERM: Terminated}


@contextmanager
def insisting_signals(every: float = 1.0):
    """While the body runs, a SIGINT or SIGTERM stops it even where library code loses the
    exception the signal raises.

    A signal's handler runs in the main thread wherever it happens to be, and some places
    there lose what it raises: a bare `except:` (Keras converts its logs to floats under one;
    TensorFlow's `__del__`s have them), or a tf.data generator that TensorFlow ran on this
    thread and turned into an error status. So after the first signal the same signal is
    sent again every `every` seconds until the body ends, and however the body ends (done,
    or failed with another error), it ends as that signal's exception (the error as its
    cause). Handlers other than Python callables (SIG_IGN, SIG_DFL) are left alone; in any
    thread but the main one (which alone runs signal handlers) the body runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    done, resender = threading.Event(), []

    def resend(signum):
        while not done.wait(every):
            os.kill(os.getpid(), signum)

    def handler(signum, frame):
        if done.is_set():  # the body has ended: a resend on its way, or a signal raised below
            if not received:
                received.append(signum)
            return
        if not received:
            received.append(signum)
            resender.append(threading.Thread(target=resend, args=(signum,), daemon=True))
            resender[0].start()
        raise _EXCEPTION[signum]()

    def stop_insisting():
        done.set()
        for thread in resender:  # after this, no resend is on its way
            thread.join()
        for signum, before in previous.items():  # signal.signal first runs any handler still pending
            if callable(before):
                signal.signal(signum, before)

    previous = {signum: signal.getsignal(signum) for signum in _EXCEPTION}
    for signum, before in previous.items():
        if callable(before):
            signal.signal(signum, handler)
    outcome: BaseException | None = None
    try:
        yield
    except BaseException as error:  # noqa: BLE001 - re-raised below, or as the signal that caused it
        outcome = error
    while True:  # a signal can land before `done` is set, or after the old handlers are back
        try:
            stop_insisting()
            break
        except (KeyboardInterrupt, Terminated) as error:
            if not received:
                received.append(signal.SIGINT if isinstance(error, KeyboardInterrupt) else signal.SIGTERM)
    if received and not isinstance(outcome, (KeyboardInterrupt, Terminated)):
        raise _EXCEPTION[received[0]]() from outcome
    if outcome is not None:
        raise outcome
