"""Run ``panohead`` command lines in one process under a memory limit and report what each did.

Usage: ``python hostile_runner.py CASES.json RESULT.json LIMIT_BYTES``; CASES is a list of argv lists. For
each: exit status, stdout, stderr and whether a traceback escaped. The result also holds the
process's resident-memory peak before the first case (imports done) and after the last, so a test
can bound what the hostile files cost. Running the cases in one process also shows whether a
refused file changed state that a later load relies on.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import traceback


def peak_rss() -> int:
    """Peak resident memory of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(argv: list[str]) -> dict:
    from panohead.cli import main

    out, err = io.StringIO(), io.StringIO()
    status, escaped = 0, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main.main(argv, prog_name="panohead")
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            escaped = traceback.format_exc()
            status = 1
    return {"argv": argv, "status": status, "stdout": out.getvalue(), "stderr": err.getvalue(), "traceback": escaped}


def main() -> None:
    cases_file, result_file, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import torch  # noqa: F401

    import panohead.cli
    import panohead.cli.common  # noqa: F401

    baseline = peak_rss()
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    results = [run(argv) for argv in json.loads(open(cases_file).read())]
    with open(result_file, "w") as handle:
        json.dump({"baseline_rss": baseline, "peak_rss": peak_rss(), "results": results}, handle)


if __name__ == "__main__":
    main()
