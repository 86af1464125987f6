"""The viewer's one background-job type, without a window: outcome, one-line failures, cancel, progress."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from panohead.export.tasks import ExportCancelled, check_cancel
from viz.jobs import Job, file_outcome


def test_a_job_runs_its_work_off_the_calling_thread_and_keeps_the_value():
    ended, threads = [], []

    def work(job: Job[int]) -> int:
        threads.append(threading.current_thread())
        return 42

    job = Job.start("answer", work, on_end=lambda done: ended.append((done.status, done.value)))
    assert job.join(timeout=10)
    assert (job.status, job.value, job.error) == ("done", 42, None) and not job.running
    assert ended == [("done", 42)]  # on_end ran once, after the outcome was set
    assert threads[0] is not threading.current_thread() and threads[0].daemon


def test_a_user_error_fails_the_job_with_its_first_line_and_no_traceback(caplog):
    def work(job: Job[None]) -> None:
        raise ValueError("data.zip: not a dataset\n  details the panel does not show")

    with caplog.at_level(logging.ERROR, logger="viz.jobs"):
        job = Job.start("check", work)
        job.join(timeout=10)
    assert (job.status, job.error, job.value) == ("failed", "data.zip: not a dataset", None)
    assert not caplog.records


def test_a_bug_fails_the_job_with_one_line_and_its_traceback_goes_to_the_log(caplog):
    def work(job: Job[None]) -> None:
        raise KeyError("psi")

    with caplog.at_level(logging.ERROR, logger="viz.jobs"):
        job = Job.start("mesh 64^3 (.glb)", work)
        job.join(timeout=10)
    assert job.status == "failed" and job.error == "internal error: KeyError: 'psi'"
    (record,) = caplog.records
    assert record.getMessage() == "mesh 64^3 (.glb) failed" and record.exc_info[0] is KeyError


def test_cancel_stops_a_work_that_checks_the_event_and_ends_cancelled():
    started = threading.Event()

    def work(job: Job[Path]) -> Path:
        started.set()
        while True:  # an exporter's loop: check, then a piece of work
            check_cancel(job.cancel_event)
            time.sleep(0.001)

    job = Job.start("turntable", work)
    assert started.wait(10) and job.running
    job.cancel()
    assert job.join(timeout=10)
    assert (job.status, job.value, job.error) == ("cancelled", None, None)
    assert file_outcome(job, "export", "exported") == ("export cancelled; nothing was written", False)


def test_a_work_that_keeps_its_best_result_on_cancel_ends_done_with_it():
    def work(job: Job[str]) -> str:
        job.cancel_event.wait(10)
        return "best so far"

    job = Job.start("inversion", work)
    job.cancel()
    job.join(timeout=10)
    assert (job.status, job.value) == ("done", "best so far")


def test_progress_fraction_message_and_eta_as_the_work_reports_them():
    begin, step, go_on = threading.Event(), threading.Event(), threading.Event()
    changes = []

    def work(job: Job[None]) -> None:
        begin.wait(10)  # until the test holds ``job`` (on_change reads it)
        job.report(0.25, "stage 1: latent  1/4", eta=30.0)
        job.report(1.5)  # clamped; the message stays
        step.set()
        go_on.wait(10)
        job.report(-1.0, "saving")

    job = Job.start("inversion", work, on_change=lambda: changes.append(job.fraction))
    begin.set()
    assert step.wait(10)
    assert (job.fraction, job.message) == (1.0, "stage 1: latent  1/4")
    first = job.eta
    assert first is not None and 29.0 < first <= 30.0  # counts down from the reported estimate
    time.sleep(0.05)
    later = job.eta
    assert later is not None and later <= first - 0.05 and job.elapsed >= 0.05
    go_on.set()
    job.join(timeout=10)
    assert (job.fraction, job.message, job.status) == (0.0, "saving", "done")
    assert job.eta is None  # ended: nothing left
    elapsed = job.elapsed
    time.sleep(0.02)
    assert job.elapsed == elapsed  # frozen at the end
    assert changes == [0.25, 1.0, 0.0, 0.0]  # after each report, and once at the end


def test_a_job_that_never_reports_has_no_eta():
    job = Job.start("quick", lambda job: None)
    job.join(timeout=10)
    assert job.eta is None and job.message == "" and job.fraction == 0.0


@pytest.mark.parametrize(
    ("work", "expected"),
    [
        (lambda job: Path("/captures/mesh.glb"), ("exported /captures/mesh.glb", False)),
        (lambda job: (_ for _ in ()).throw(OSError("disk full")), ("export failed: disk full", True)),
        (
            lambda job: (_ for _ in ()).throw(ExportCancelled("export cancelled")),
            ("export cancelled; nothing was written", False),
        ),
    ],
)
def test_the_outcome_of_a_file_writing_job_is_one_message(work, expected):
    job = Job.start("mesh", work)
    job.join(timeout=10)
    assert file_outcome(job, "export", "exported") == expected
