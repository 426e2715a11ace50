"""Mark students' kuzu.py and check.py against the assignment.

    python3 teacher/grade.py submissions/alice              # table of checks; alice.grade.json beside it
    python3 teacher/grade.py submissions/*                  # a whole class, several checks at a time

A submission is a folder holding the student's kuzu.py and check.py (the rest of the kit is taken
from this repository, check.csv and common.py included, so editing them gains nothing). Each
check (teacher/checks.py) runs in a process of its own with a time limit, in a fresh scratch copy:
an exception at import, an endless loop, megabytes of printing or files written beside the copy
cost only the checks that run into them. Before a file's checks, one probe imports it; when that
fails, its checks all fail with the probe's message without being run. The marks per check are
in teacher/marks.json, which the teacher can edit (or pass --marks FILE).

This isolates honest mistakes, not deliberate attacks: the checks run as the grader's user, so
grade code you do not trust inside a container or virtual machine.
"""
import argparse
import ast
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time

TEACHER = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TEACHER)
sys.path[:0] = [ROOT, TEACHER]

import checks  # noqa: E402  (needs the paths above)
from common import UserError, number, run_main, save_text, writable_file  # noqa: E402

REFERENCE_FILES = ("common.py", "check.csv")  # from this repository, whatever the submission holds
STUDENT_FILES = tuple(checks.PROBES)          # kuzu.py, check.py


def load_marks(path):
    """The marks table: a JSON object giving every check's marks (a number >= 0), in table order."""
    try:
        with open(path) as file:
            marks = json.load(file)
    except OSError as err:
        raise UserError(f"cannot read marks table {path}: {err.strerror}") from None
    except ValueError as err:
        raise UserError(f"marks table {path} is not valid JSON: {err}") from None
    if not isinstance(marks, dict) or set(marks) != set(checks.CHECKS):
        given = set(marks) if isinstance(marks, dict) else set()
        raise UserError(f"marks table {path} must give marks to exactly the checks {', '.join(checks.CHECKS)} "
                        f"(missing: {', '.join(sorted(set(checks.CHECKS) - given)) or 'none'}; "
                        f"unknown: {', '.join(sorted(given - set(checks.CHECKS))) or 'none'})")
    for name, value in marks.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise UserError(f"marks table {path}: {name} must be a number >= 0, not {value!r}")
    return marks


def reference_weights():
    """This repository's HAND_WEIGHTS, for the sigmoid check when a submission's fail the step task.
    Read from the source: importing check.py here would hand the checks this module, not the student's."""
    with open(os.path.join(ROOT, "check.py")) as file:
        tree = ast.parse(file.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["HAND_WEIGHTS"]:
            return ast.literal_eval(node.value)
    raise UserError(f"{os.path.join(ROOT, 'check.py')} has no HAND_WEIGHTS = {{...}} to use as the reference")


# ----------------------------------------------------------------------------
# Running checks in processes of their own

def scratch_copy(scratch_root, submission, name):
    """A fresh folder for one check: <scratch_root>/<name>/work with the kit's reference files and
    the submission's files (those it has). Returns (work folder, output file)."""
    work = os.path.join(scratch_root, name, "work")
    os.makedirs(work)
    for file in REFERENCE_FILES:
        shutil.copyfile(os.path.join(ROOT, file), os.path.join(work, file))
    for file in STUDENT_FILES:
        if os.path.isfile(os.path.join(submission, file)):
            shutil.copyfile(os.path.join(submission, file), os.path.join(work, file))
    return work, os.path.join(scratch_root, name, "output.txt")


def stop(process):
    """Kill a check's process and everything it started (its own process group), and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # already gone, or not yet in its own group
        pass
    if process.is_alive():
        process.kill()
    process.join()


def outcome(process, receive, timed_out, timeout):
    """(passed, note) of a finished or stopped check's process."""
    try:
        if receive.poll():
            return receive.recv()
    except (EOFError, OSError):
        pass
    if timed_out:
        return False, f"timed out after {timeout:g} s"
    if process.exitcode < 0:
        return False, f"killed by {signal.Signals(-process.exitcode).name}"
    return False, f"exited with status {process.exitcode} before the check finished"


def run_checks(tasks, jobs, timeout, context):
    """Run tasks [(key, check or probe name, work folder, output file, key of the probe it needs or
    None)], at most `jobs` at once, each in its own process stopped after `timeout` s; a task
    starts once its probe has passed and is dropped if the probe failed. Return {key: (passed,
    note, seconds)} for the tasks run."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    mp = multiprocessing.get_context(method)  # fork: torch is already loaded, so a check starts at once
    waiting, running, results = list(tasks), [], {}
    try:
        while waiting or running:
            waiting = [task for task in waiting if results.get(task[4], (True,))[0]]  # drop if its probe failed
            ready = [task for task in waiting if task[4] is None or task[4] in results]
            for task in ready[:jobs - len(running)]:
                waiting.remove(task)
                key, name, work, output, _ = task
                receive, send = mp.Pipe(duplex=False)
                process = mp.Process(target=checks.run_check, args=(name, work, output, send, context), daemon=True)
                process.start()
                send.close()
                running.append((key, process, receive, time.monotonic()))
            multiprocessing.connection.wait([process.sentinel for _, process, _, _ in running], timeout=0.1)
            still_running = []
            for key, process, receive, start in running:
                seconds = time.monotonic() - start
                timed_out = seconds > timeout
                if process.exitcode is None and not timed_out:
                    still_running.append((key, process, receive, start))
                    continue
                result = outcome(process, receive, timed_out and process.exitcode is None, timeout)
                stop(process)
                results[key] = (*result, round(seconds, 2))
            running = still_running
    finally:
        for _, process, _, _ in running:
            stop(process)
    return results


# ----------------------------------------------------------------------------
# Grading

def grade(submissions, marks, jobs, timeout):
    """Grade each submission folder; return one report per submission: a dict with the folder, its
    total, the marks available and a row per check (passed, marks, note, seconds, ...)."""
    context = {"reference_weights": reference_weights(), "hidden_paths": {ROOT, TEACHER, "", os.getcwd()}}
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch_root:
        tasks = []
        for index, submission in enumerate(submissions):
            for name in STUDENT_FILES + tuple(marks):  # the probes first: each file's checks need its probe
                file = name if name in STUDENT_FILES else checks.CHECKS[name][0]
                if os.path.isfile(os.path.join(submission, file)):
                    work, output = scratch_copy(scratch_root, submission, f"{index}-{name.replace('.', '_')}")
                    tasks.append(((index, name), name, work, output, None if name == file else (index, file)))
        results = run_checks(tasks, jobs, timeout, context)

    reports = []
    for index, submission in enumerate(submissions):
        rows = []
        for name, out_of in marks.items():
            file, part, description, _ = checks.CHECKS[name]
            if (index, name) in results:
                passed, note, seconds = results[(index, name)]
            elif (index, file) in results:
                passed, note, seconds = False, f"{file} does not import: {results[(index, file)][1]}", 0.0
            else:
                passed, note, seconds = False, f"{file} is missing from the submission", 0.0
            rows.append({"check": name, "part": part, "file": file, "description": description, "passed": passed,
                         "marks": out_of if passed else 0, "out_of": out_of, "note": note, "seconds": seconds})
        reports.append({"submission": os.path.abspath(submission), "checks": rows,
                        "total": sum(row["marks"] for row in rows), "out_of": sum(marks.values())})
    return reports


def table(report):
    """The report as text: one line per check, then the total."""
    width = max(len(row["check"]) for row in report["checks"])
    lines = [report["submission"], f"  {'check':<{width}}  {'marks':>7}  result"]
    for row in report["checks"]:
        lines.append(f"  {row['check']:<{width}}  {row['marks']:>3g} / {row['out_of']:<3g}"
                     f"{'ok' if row['passed'] else 'FAILED'}: {row['note']}")
    lines.append(f"  {'total':<{width}}  {report['total']:>3g} / {report['out_of']:g}")
    return "\n".join(lines)


def json_path(submission):
    return os.path.abspath(submission).rstrip(os.sep) + ".grade.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Mark students' kuzu.py and check.py; print a table of checks "
                                                 "and write SUBMISSION_DIR.grade.json beside each folder.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION_DIR",
                        help="folder holding a student's kuzu.py and check.py")
    parser.add_argument("--marks", default=os.path.join(TEACHER, "marks.json"),
                        help="marks table, a JSON object check -> marks (default: teacher/marks.json)")
    parser.add_argument("--timeout", type=number(float, 0, None, low_open=True), default=20.0,
                        help="seconds each check may run (default: 20)")
    parser.add_argument("--jobs", type=number(int, 1, 64), default=2, help="checks run at once (default: 2)")
    parser.add_argument("--json", metavar="PATH", help="where to write the JSON marks, with one submission "
                                                       "(default: SUBMISSION_DIR.grade.json)")
    args = parser.parse_args(argv)
    for submission in args.submissions:
        if not os.path.isdir(submission):
            raise UserError(f"{submission} is not a folder (a submission is a folder with kuzu.py and check.py)")
    if args.json and len(args.submissions) > 1:
        raise UserError("--json names one file: give it with one submission only")
    marks = load_marks(args.marks)
    outputs = [writable_file(args.json or json_path(s), "--json") for s in args.submissions]
    for report, output in zip(grade(args.submissions, marks, args.jobs, args.timeout), outputs):
        save_text(json.dumps(report, indent=2) + "\n", output)
        print(f"{table(report)}\n  marks written to {output}\n")


if __name__ == "__main__":
    run_main(main)
