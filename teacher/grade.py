"""Mark students' kuzu.py and check.py against the assignment.

    python3 teacher/grade.py submissions/*                   # a class: tables, then grades/marks.csv
    python3 teacher/grade.py submissions/* --only alice bob  # re-grade two, updating their rows

A submission is a folder, named after the student, holding their kuzu.py and check.py; the
rest of the kit (REFERENCE_FILES) is taken from this repository, so editing it gains nothing.
A file among the submissions (an old report, say) is skipped with a note. Before a file's
checks, a probe imports it; when that fails, its checks all fail with the probe's message.

Limits are in CPU time, so that they mean the same on a busy machine and a quiet one: first
every check runs once on this kit's own solution, and a check's budget is BUDGET_FACTOR times
the CPU time it took there, at least --min-budget s. A check over its budget is run once more
alone (nothing else running) before it loses its marks. One that sleeps is stopped by a
wall-clock backstop of BACKSTOP_FACTOR times its budget plus BACKSTOP_MARGIN s. Each
submission's checks run in a sandboxed worker of its own (teacher/sandbox.py says how), up to
--jobs workers at a time.

Results go into --out, beside the submissions rather than among them: NAME.json per student
and marks.csv (a row per student, a column per check, the total), both replaced on a re-run.
The marks per check are in teacher/marks.json (or --marks FILE). Exit status 0 when every
submission was graded, whatever its marks; 2 for a mistake in the command.
"""
import argparse
import csv
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time

TEACHER = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TEACHER)
sys.path[:0] = [ROOT, TEACHER]

import checks  # noqa: E402  (needs the paths above)
import sandbox  # noqa: E402
from common import UserError, number, run_main, save_text, writable_dir  # noqa: E402

# The kit's modules a check may import, taken from this repository whatever the submission holds.
REFERENCE_FILES = ("common.py", "check.csv", "check_data.py", "kuzu_nets.py", "kuzu_data.py", "seq_models.py",
                   "seq_checkpoints.py", "anbn.py")
STUDENT_FILES = tuple(sandbox.PROBES) + tuple(checks.PROBES)  # kuzu.py, check.py, the Part 3 checkpoints
REFERENCE_NET = os.path.join(TEACHER, "reference", "net")  # the kit's own trained Part 3 networks
BUDGET_FACTOR = 10    # a correct network may well take several times the reference's compute
BACKSTOP_FACTOR, BACKSTOP_MARGIN = 10, 10
REFERENCE_CPU = 600   # CPU seconds the reference may take for any one check
POLL = 0.1            # seconds between looks at the workers' CPU time


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


# ----------------------------------------------------------------------------
# Running checks in workers

class Job:
    """One submission's checks, run in order in one worker (a fresh one after an overrun): for
    each of its files (file -> the names of its checks), the file's probe, then its checks."""

    def __init__(self, key, folder, files, scratch_root):
        self.key, self.folder, self.files = key, folder, files
        self.todo = [name for file, names in files.items() for name in [file] + names]
        self.scratch_root, self.starts = scratch_root, 0

    def scratch(self):
        """A fresh scratch copy: the kit's reference files and this job's files of the submission."""
        self.starts += 1
        work = tempfile.mkdtemp(prefix=f"{self.key}-{self.starts}-", dir=self.scratch_root)
        for name in REFERENCE_FILES:
            shutil.copyfile(os.path.join(ROOT, name), os.path.join(work, name))
        names = tuple(checks.scratch_name(file) if file in checks.CHECKPOINTS else file for file in self.files)
        for file, name in zip(self.files, names):
            shutil.copyfile(locate(self.folder, file), os.path.join(work, name))
        return work, REFERENCE_FILES + names


def locate(folder, file):
    """The path of a student file of a submission folder, or None when it has none."""
    if file in checks.CHECKPOINTS:
        return checks.find_checkpoint(folder, file)
    path = os.path.join(folder, file)
    return path if os.path.isfile(path) else None


def run_jobs(jobs, budgets, slots, isolation, scratch_root):
    """Run the jobs, at most `slots` workers at a time. Return {(job key, check): result} with
    result a dict: passed, note, cpu and, for a check stopped over its CPU budget, "overran"."""
    results, waiting, running = {}, list(jobs), {}  # running: slot -> (job, worker)
    try:
        while waiting or running:
            for slot in range(slots):
                if slot not in running and waiting:
                    job = waiting.pop(0)
                    work, files = job.scratch()
                    log = os.path.join(scratch_root, f"{os.path.basename(work)}.log")
                    running[slot] = (job, sandbox.Worker(isolation, work, files, slot, log))
            time.sleep(POLL)
            table = sandbox.process_table()
            for slot, (job, worker) in list(running.items()):
                if not step(job, worker, budgets, table, results):
                    worker.stop()
                    del running[slot]
                    if job.todo:  # the worker was stopped: a fresh one for the rest
                        waiting.insert(0, job)
    finally:
        for job, worker in running.values():
            worker.stop()
    return results


def step(job, worker, budgets, table, results):
    """Advance one worker: take its reply, send the next check, or stop an overrun. Return
    whether the worker is to go on."""
    reply = worker.poll()
    cpu, wall = worker.used(table)
    if reply and "cpu" in reply:  # the check's own CPU time, exact: the table was read before it ended
        cpu = max(cpu, reply["cpu"])
    name = worker.check
    if name is None:  # starting: importing torch, before any of the student's code
        if reply is None and cpu <= sandbox.START_CPU and wall <= BACKSTOP_FACTOR * sandbox.START_CPU:
            return True
        if reply is None or "ended" in reply:
            why = reply["ended"] if reply else f"took over {sandbox.START_CPU} s"
            raise UserError(f"a grading worker failed to start ({why}); {sandbox.__file__} says how they are started")
    elif reply is None:
        budget = budgets[name]
        backstop = BACKSTOP_FACTOR * budget + BACKSTOP_MARGIN
        if cpu > budget:
            return finish(job, name, results, False, f"stopped: used more than {budget:g} s of CPU time", cpu, True)
        if wall > backstop:
            return finish(job, name, results, False, f"stopped: no progress for {backstop:g} s (sleeping or waiting)",
                          cpu)
        return True
    elif "ended" in reply:
        return finish(job, name, results, False, f"the check's process ended without a result ({reply['ended']})", cpu)
    elif "passed" in reply:
        finish(job, name, results, reply["passed"], reply["note"], cpu)
    elif cpu > budgets[name]:  # RLIMIT_CPU's signal came before the grader looked
        return finish(job, name, results, False, f"stopped: used more than {budgets[name]:g} s of CPU time", cpu, True)
    else:
        how = f"killed by {reply['signal']}" if "signal" in reply else f"exited with status {reply['status']}"
        finish(job, name, results, False, f"the check's process {how}", cpu)
    if not job.todo:
        return False
    try:
        worker.send(job.todo[0], budgets[job.todo[0]], table)
    except OSError:  # the worker ended meanwhile: poll says why next time
        pass
    return True


def finish(job, name, results, passed, note, cpu, overran=False):
    """Record a check's result; a file that does not import has its checks dropped. Returns
    False, for step to stop the worker when the check was stopped."""
    job.todo.remove(name)
    if name in job.files and not passed:
        job.todo = [left for left in job.todo if left not in job.files[name]]
    results[(job.key, name)] = {"passed": passed, "note": note, "cpu": cpu, "overran": overran}
    return False


def run_all(jobs, budgets, slots, isolation, scratch_root):
    """run_jobs, then each check that overran once more alone (a probe with its file's checks);
    the results."""
    results = run_jobs(jobs, budgets, slots, isolation, scratch_root)
    for job in jobs:
        for file, names in job.files.items():
            for name in [file] + names:
                if not results.get((job.key, name), {}).get("overran"):
                    continue
                again = Job(job.key, job.folder, {file: names if name == file else []}, scratch_root)
                if name != file:
                    again.todo = [name]
                retried = run_jobs([again], budgets, 1, isolation, scratch_root)
                if retried[(job.key, name)]["overran"]:
                    retried[(job.key, name)]["note"] += " (twice: once alone)"
                results.update(retried)
    return results


def submission_jobs(folders, names, scratch_root):
    """A job per submission (key: the folder's index) with each of its files that the checks
    `names` need; a submission with none of them gets none."""
    jobs = []
    for index, folder in enumerate(folders):
        files = {file: [n for n in names if checks.CHECKS[n][0] == file]
                 for file in STUDENT_FILES if locate(folder, file)}
        if files:
            jobs.append(Job(str(index), folder, files, scratch_root))
    return jobs


def measure_budgets(names, slots, isolation, scratch_root, floor):
    """Run every check on the kit's own solution; {check or probe: CPU budget}, {same: reference CPU}."""
    probes = {name: REFERENCE_CPU for name in STUDENT_FILES + tuple(names)}
    solution = os.path.join(scratch_root, "solution")  # the kit's kuzu.py and check.py, and its net/
    os.makedirs(solution)
    for file in ("kuzu.py", "check.py"):
        shutil.copyfile(os.path.join(ROOT, file), os.path.join(solution, file))
    shutil.copytree(REFERENCE_NET, os.path.join(solution, "net"))
    results = run_all(submission_jobs([solution], names, scratch_root), probes, slots, isolation, scratch_root)
    for name in STUDENT_FILES + tuple(names):
        result = results.get(("0", name)) or results[("0", checks.CHECKS[name][0])]  # else its file failed
        if not result["passed"]:
            why = result["note"]
            raise UserError(f"the kit's own solution fails check {name} ({why}): budgets are measured on it, "
                            "so fix it (or the check) first")
    reference = {name: results[("0", name)]["cpu"] for name in probes}
    return {name: max(floor, round(BUDGET_FACTOR * cpu, 1)) for name, cpu in reference.items()}, reference


def grade(folders, marks, slots, floor, isolation=None):
    """Grade each submission folder. Return (budgets, reference CPU, reports): a report per
    folder, a dict with its name, total, the marks available and a row per check."""
    isolation = isolation or sandbox.Isolation()
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch_root:
        os.chmod(scratch_root, 0o711)  # workers of their own users reach their folders, list none
        budgets, reference = measure_budgets(list(marks), slots, isolation, scratch_root, floor)
        results = run_all(submission_jobs(folders, list(marks), scratch_root), budgets, slots, isolation,
                          scratch_root)
    reports = []
    for index, folder in enumerate(folders):
        rows = []
        for name, out_of in marks.items():
            file, part, description, _ = checks.CHECKS[name]
            probe = results.get((str(index), file))
            result = results.get((str(index), name))
            if result is None:
                failed = "cannot be read" if file in checks.CHECKPOINTS else "does not import"
                note = f"{file} {failed}: {probe['note']}" if probe else f"{file} is missing from the submission"
                result = {"passed": False, "note": note, "cpu": 0.0}
            rows.append({"check": name, "part": part, "file": file, "description": description,
                         "passed": result["passed"], "marks": out_of if result["passed"] else 0, "out_of": out_of,
                         "note": result["note"], "cpu_seconds": round(result["cpu"], 2),
                         "budget_seconds": budgets[name]})
        reports.append({"submission": os.path.basename(os.path.abspath(folder)), "folder": os.path.abspath(folder),
                        "isolation": isolation.line, "checks": rows,
                        "total": sum(row["marks"] for row in rows), "out_of": sum(marks.values())})
    return budgets, reference, reports


# ----------------------------------------------------------------------------
# Output

def budget_lines(budgets, reference, floor):
    lines = [f"budgets: CPU seconds per check, {BUDGET_FACTOR}x the kit's solution on this machine, at least {floor:g}"]
    width = max(map(len, budgets))
    for name, budget in budgets.items():
        lines.append(f"  {name:<{width}}  {reference[name]:6.2f} s -> {budget:g} s")
    return lines


def table(report):
    """The report as text: one line per check, then the total."""
    width = max(len(row["check"]) for row in report["checks"])
    lines = [report["submission"], f"  {'check':<{width}}  {'marks':>7}  {'CPU s':>6}  result"]
    for row in report["checks"]:
        lines.append(f"  {row['check']:<{width}}  {row['marks']:>3g} / {row['out_of']:<3g} {row['cpu_seconds']:6.2f}  "
                     f"{'ok' if row['passed'] else 'FAILED'}: {row['note']}")
    lines.append(f"  {'total':<{width}}  {report['total']:>3g} / {report['out_of']:g}")
    return "\n".join(lines)


def marks_csv(path, names, reports, keep):
    """marks.csv's text: the rows of `reports`, and, when `keep`, the other rows already in `path`."""
    header = ["submission", *names, "total"]
    rows = {}
    if keep and os.path.exists(path):
        with open(path, newline="") as file:
            old = list(csv.reader(file))
        if not old or old[0] != header:
            raise UserError(f"{path} has other columns than the marks table's checks: grade everyone (without --only)")
        rows = {row[0]: row for row in old[1:] if row}
    for report in reports:
        rows[report["submission"]] = [report["submission"], *(f"{row['marks']:g}" for row in report["checks"]),
                                      f"{report['total']:g}"]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header] + [rows[name] for name in sorted(rows)])
    return text.getvalue()


def submissions(paths, only):
    """The submission folders among `paths` (a file is skipped with a note), names unique, only
    those named in `only` if given."""
    folders, seen = [], {}
    for path in paths:
        if os.path.isfile(path):
            print(f"skipped {path}: a file, not a submission folder")
            continue
        if not os.path.isdir(path):
            raise UserError(f"{path} does not exist (a submission is a folder with kuzu.py and check.py)")
        name = os.path.basename(os.path.abspath(path))
        if name in seen:
            raise UserError(f"two submissions are named {name}: {seen[name]} and {path}; names must be unique")
        seen[name] = path
        folders.append(path)
    if only:
        unknown = sorted(set(only) - set(seen))
        if unknown:
            raise UserError(f"--only {' '.join(unknown)}: no such submission among the folders given")
        folders = [seen[name] for name in seen if name in only]
    if not folders:
        raise UserError("no submission folders to grade")
    return folders


def default_jobs():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def main(argv=None):
    parser = argparse.ArgumentParser(description="Mark students' kuzu.py and check.py: print a table of checks per "
                                                 "submission and write NAME.json and marks.csv into --out.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION_DIR",
                        help="folder named after a student, holding their kuzu.py and check.py; files are skipped")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="re-grade only these submissions (folder names), "
                        "updating their rows of marks.csv (default: grade all)")
    parser.add_argument("--out", default="grades", help="folder for NAME.json and marks.csv (default: grades)")
    parser.add_argument("--marks", default=os.path.join(TEACHER, "marks.json"),
                        help="marks table, a JSON object check -> marks (default: teacher/marks.json)")
    parser.add_argument("--min-budget", type=number(float, 0, None, low_open=True), default=5.0,
                        help=f"least CPU seconds a check may use; its budget is {BUDGET_FACTOR}x the kit's solution's "
                             "time where that is more (default: 5)")
    parser.add_argument("--jobs", type=number(int, 1, 256), default=default_jobs(),
                        help=f"workers run at once (default: the cores this process may use, here {default_jobs()})")
    args = parser.parse_args(argv)
    marks = load_marks(args.marks)
    isolation = sandbox.Isolation()
    print(isolation.line, flush=True)
    folders = submissions(args.submissions, args.only)
    out = writable_dir(args.out, "--out")  # after the submissions are checked: a mistyped one leaves nothing
    budgets, reference, reports = grade(folders, marks, args.jobs, args.min_budget, isolation)
    print("\n".join(budget_lines(budgets, reference, args.min_budget)) + "\n")
    for report in reports:
        path = save_text(json.dumps(report, indent=2) + "\n", os.path.join(out, f"{report['submission']}.json"))
        print(f"{table(report)}\n  written to {path}\n")
    path = os.path.join(out, "marks.csv")
    save_text(marks_csv(path, list(marks), reports, keep=bool(args.only)), path)
    print(f"marks of {len(reports)} submission{'s' if len(reports) > 1 else ''} written to {path}")


if __name__ == "__main__":
    run_main(main)
