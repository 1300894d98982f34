"""pipelines/interrupts.insisting_signals, the scope a pipeline runs in: a SIGTERM or SIGINT
stops the run even where library code loses the exception the signal raises (a bare
`except:` in Keras, a `__del__`, an error status TensorFlow makes of it). Each case runs in
a process of its own that signals itself, as `tandem run` is signalled; the scope resends
every 0.2 s here (1 s in a run)."""

import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from helpers import REPO

from pipelines.interrupts import insisting_signals

SCRIPT = """
import os, signal, sys, threading, time
from pipelines.interrupts import Terminated, insisting_signals, raise_on_sigterm

raise_on_sigterm()
before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
start = time.monotonic()

def signal_me(signum, after=0.1):
    threading.Timer(after, os.kill, (os.getpid(), signum)).start()

try:
    with insisting_signals(every=0.2):
{body}
    print("ended: normally")
except (Terminated, KeyboardInterrupt) as error:
    took, cause = time.monotonic() - start, type(error.__cause__).__name__
    print(f"ended: {{type(error).__name__}} after {{took:.1f}} s, caused by {{cause}}")
except Exception as error:
    print(f"ended: {{type(error).__name__}}: {{error}}")
assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before, "handlers not restored"
time.sleep(0.7)  # a resend still going would raise here, uncaught
print("afterwards: quiet")
"""


def run(body: str) -> list[str]:
    script = SCRIPT.format(body=textwrap.indent(textwrap.dedent(body), " " * 8))
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def seconds(line: str) -> float:
    return float(line.split(" after ")[1].split(" s")[0])


def test_a_signal_lost_in_a_bare_except_is_sent_again_and_stops_the_work_that_follows():
    ended, quiet = run("""
        signal_me(signal.SIGTERM)
        try:
            time.sleep(1)  # as Keras waits for a step inside a bare `except:`: the first SIGTERM is lost
        except:  # noqa: E722
            pass
        for _ in range(100):
            time.sleep(0.05)  # 5 s of work that the resent signal stops
        print("ended: the work finished")
    """)
    assert ended.startswith("ended: Terminated after") and ended.endswith("caused by NoneType"), ended
    assert seconds(ended) < 4.5, ended  # the work alone takes 6 s
    assert quiet == "afterwards: quiet"


def test_a_signal_turned_into_another_error_ends_as_the_signal_with_that_error_as_its_cause():
    ended, quiet = run("""
        signal_me(signal.SIGTERM)
        try:
            time.sleep(1)
        except BaseException as error:  # as TensorFlow makes an error status of it
            raise RuntimeError("Cancelled: the step was interrupted") from error
    """)
    assert ended.startswith("ended: Terminated after") and ended.endswith("caused by RuntimeError"), ended
    assert quiet == "afterwards: quiet"


@pytest.mark.parametrize("signum, exception", [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, "Terminated")])
def test_a_body_that_loses_the_signal_and_finishes_still_ends_as_interrupted(signum, exception):
    ended, quiet = run(f"""
        signal_me({int(signum)})
        try:
            time.sleep(0.15)  # ends before the first resend
        except:  # noqa: E722
            pass
    """)
    assert ended.startswith(f"ended: {exception} after"), ended
    assert quiet == "afterwards: quiet"


def test_without_a_signal_the_body_ends_as_it_would_have():
    assert run("time.sleep(0.3)") == ["ended: normally", "afterwards: quiet"]
    assert run("raise ValueError('the bad row is 7')") == ["ended: ValueError: the bad row is 7", "afterwards: quiet"]


def test_outside_the_main_thread_the_body_runs_as_it_is():
    result = {}

    def body():
        try:
            with insisting_signals():
                result["value"] = 42
        except BaseException as error:  # noqa: BLE001 - what the thread saw, asserted below
            result["error"] = error

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert result == {"value": 42}
