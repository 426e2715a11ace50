"""teacher/grade.py and teacher/sandbox.py: marks, budgets, output files and isolation.

One grading run, as a teacher would start it, marks the kit's solution, a large correct
network and a hostile submission per attack side by side; the tests below read its output.
That budgets are CPU time, the same on a busy machine, is tested on its own, with a check that
shares its core. No test depends on wall-clock time: the one wall-clock limit (the backstop for
a sleeper) is far above what a loaded machine takes.
"""
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest
import torch

from common import UserError
from kit import FIXTURES
from seq_models import make_model
from teacher import grade, sandbox

pytestmark = pytest.mark.xdist_group("test_grade")  # its module fixtures are made once, on one worker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "TOP-SECRET-ANSWER-KEY"
ISOLATION = sandbox.Isolation()
needs_bwrap = pytest.mark.skipif(not ISOLATION.bwrap, reason=f"no working bubblewrap: {ISOLATION.line}")

def with_attack(attack):
    """The kit's own check.py (the course's shape, right on the nine points) with `attack` appended:
    code that runs when the submission is imported."""
    with open(os.path.join(ROOT, "check.py")) as file:
        return file.read() + "\n" + attack + "\n"

ATTACKS = {  # submission name -> code run when its check.py is imported
    "reader": '''found = []
for path in ({secret!r}, {other!r}, {kit_test!r}):
    try:
        found.append(open(path).read()[:40])
    except OSError as err:
        found.append(type(err).__name__)
raise RuntimeError("read " + " | ".join(found))''',
    "writer": '''done = []
for path in ({outside!r}, {other!r}, "/tmp/student-was-here"):
    try:
        with open(path, "a") as file:
            file.write("# hacked")
        done.append("wrote")
    except OSError as err:
        done.append(type(err).__name__)
raise RuntimeError("write " + " | ".join(done))''',
    "socket": '''import socket
connection = socket.socket()
connection.settimeout(5)
try:
    connection.connect(("127.0.0.1", {port}))
    connection.sendall(b"stolen")
    result = "connected"
except OSError as err:
    result = type(err).__name__
raise RuntimeError("socket " + result)''',
    "forkbomb": '''import os, time
children = 0
try:
    while children < 500:  # bounded, should isolation fail
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as err:
    raise RuntimeError(f"forked {{children}} then {{type(err).__name__}}")
raise RuntimeError(f"forked {{children}}")''',
    "diskfill": '''with open("fill.bin", "wb") as file:
    while True:
        file.write(b"x" * 2 ** 20)''',
    "sleeper": '''import time
time.sleep(10 ** 6)''',
    "printer": '''for _ in range(10 ** 6):
    print("x" * 99)''',
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        file.write(text)
    return path


def kit_kuzu(edit=None):
    with open(os.path.join(ROOT, "kuzu.py")) as file:
        text = file.read()
    if edit:
        assert text.count(edit[0]) == 1, edit[0]
        text = text.replace(*edit)
    return text


def attack(name, base, port=0):
    """check.py of the hostile submission `name`, aimed at files beside it in `base`."""
    return with_attack(ATTACKS[name].format(
        secret=str(base / "answers.txt"), other=str(base / "solution" / "check.py"),
        kit_test=os.path.join(ROOT, "tests", "test_grade.py"), outside=str(base / "outside.txt"), port=port))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every submission in one run, three at a time; (stdout, {name: report}, the
    submissions' folder, the output folder, the test server's socket)."""
    base = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("grades")
    write(base / "answers.txt", SECRET)  # the teacher's file beside the submissions
    os.chmod(base / "answers.txt", 0o600)
    write(base / "old.grade.json", "{}")  # a file among the submissions: skipped
    net = lambda name: (base / name / "net").mkdir(parents=True, exist_ok=True) or base / name / "net"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    write(base / "solution" / "kuzu.py", kit_kuzu())
    write(base / "solution" / "check.py", with_attack("# the solution"))
    shutil.copytree(grade.REFERENCE_NET, base / "solution" / "net")
    # About 4x the reference's CPU time (64/128 channels, 256 hidden), and correct.
    write(base / "large" / "kuzu.py", kit_kuzu(("channels=(16, 32), hid=128", "channels=(64, 128), hid=256")))
    write(base / "spinner" / "kuzu.py", kit_kuzu(("import torch\n", "import torch\nwhile True:\n    pass\n")))
    write(base / "spinner" / "check.py", with_attack("# right"))  # still marked after the spin is stopped
    for name in ATTACKS:
        write(base / name / "check.py", attack(name, base, server.getsockname()[1]))
    shutil.copy(os.path.join(grade.REFERENCE_NET, "anb2n_srn2_100.pth"), net("reader"))  # marked after the attack
    for name, kuzu, check in (("course", "other_names", "right"), ("mistakes", "mistakes", "wrong"),
                              ("stubs", "stubs", "stub")):  # course-format files of our own
        os.makedirs(base / name)
        shutil.copy(os.path.join(FIXTURES, "kuzu", f"{kuzu}.py"), base / name / "kuzu.py")
        shutil.copy(os.path.join(FIXTURES, "check", f"{check}.py"), base / name / "check.py")
    # Part 3: the course's bare state_dicts; the longest-trained of each is marked
    shutil.copy(os.path.join(grade.REFERENCE_NET, "anb2n_srn2_100.pth"), net("course"))
    torch.save(make_model("srn", 2, 2).state_dict(), net("course") / "anb2n_srn2_10.pth")
    torch.save(torch.load(os.path.join(grade.REFERENCE_NET, "anb2nc3n_lstm3_100.pth"))["state_dict"],
               net("course") / "anb2nc3n_lstm3_100.pth")
    torch.save(make_model("srn", 2, 2).state_dict(), net("mistakes") / "anb2n_srn2_100.pth")  # untrained
    torch.save({"W": Pickled(str(base / "pwned"))}, net("mistakes") / "anb2nc3n_lstm3_100.pth")
    torch.save(make_model("lstm", 2, 2).state_dict(), net("stubs") / "anb2n_srn2_100.pth")
    # the sleeper first, so that its wait for the backstop overlaps the other submissions' checks
    folders = [str(base / "sleeper")] + sorted(str(path) for path in base.iterdir() if path.name != "sleeper")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "teacher", "grade.py"), "--min-budget", "1",
                             "--jobs", "3", "--out", str(out), *folders], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    reports = {}
    for path in out.glob("*.json"):
        with open(path) as file:
            reports[path.stem] = json.load(file)
    yield result.stdout, reports, base, out, server
    server.close()


def notes(report):
    return {row["check"]: row["note"] for row in report["checks"] if not row["passed"]}


def probe_note(report, file="check.py"):
    """The note of a file that does not import (the same on each of its checks)."""
    found = {row["note"] for row in report["checks"] if row["file"] == file}
    assert len(found) == 1, found
    note = found.pop()
    assert note.startswith(f"{file} does not import: "), note
    return note[len(f"{file} does not import: "):]


@pytest.mark.slow
def test_solution_and_large_network_get_full_marks(graded):
    _, reports, _, _, _ = graded
    assert notes(reports["solution"]) == {}
    assert reports["solution"]["total"] == reports["solution"]["out_of"] == sum(
        grade.load_marks(os.path.join(ROOT, "teacher", "marks.json")).values())
    large = reports["large"]
    assert {row["check"] for row in large["checks"] if row["passed"]} >= {
        row["check"] for row in large["checks"] if row["file"] == "kuzu.py"}
    conv = next(row for row in large["checks"] if row["check"] == "conv_trains")
    assert conv["cpu_seconds"] > 2 * next(row["cpu_seconds"] for row in reports["solution"]["checks"]
                                          if row["check"] == "conv_trains")


BURNER = """import time
start, cpu = time.monotonic(), time.process_time()
while time.process_time() < cpu + 1:
    pass
raise RuntimeError(f"ran {time.monotonic() - start:.2f} s")
"""


def test_budgets_count_cpu_time_not_wall_clock_time(tmp_path):
    """A check that takes 1 s of CPU time on a core it shares with a busy loop, so about 2 s of
    wall-clock time, stays within a budget of 1.5 s: it runs to its end, not stopped."""
    write(tmp_path / "burner" / "check.py", BURNER)
    scratch = tempfile.mkdtemp(prefix="grade-")  # beside grade.py's, where a worker's own user reaches it
    os.chmod(scratch, 0o711)
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})  # the worker and the busy loop, started from here, share one core
    # in a session of its own, as the worker is: the kernel shares a core between sessions first
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        results = grade.run_jobs([grade.Job("burner", str(tmp_path / "burner"), {"check.py": []}, scratch)],
                                 {"check.py": 1.5}, 1, ISOLATION, scratch)
    finally:
        busy.kill()
        busy.wait()
        os.sched_setaffinity(0, cores)
        shutil.rmtree(scratch)
    result = results[("burner", "check.py")]
    wall = float(re.fullmatch(r"RuntimeError: ran (\d+\.\d\d) s \(check.py:5\)", result["note"])[1])
    assert 1 <= result["cpu"] < 1.5 < wall


class Pickled:
    """An object whose unpickling runs a command: a checkpoint must never be read that way."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


@pytest.mark.slow
def test_course_format_submissions_are_marked_through_the_contract(graded):
    reports, base = graded[1], graded[2]
    assert notes(reports["course"]) == {}  # other layer names and sizes, another design: full marks
    mistakes = notes(reports["mistakes"])
    assert re.fullmatch(r"\d+\.\d\d% of the determined symbols of 1000 fresh strings wrong \(error \d\.\d{4}\): "
                        "not solved", mistakes.pop("anb2n_srn"))  # an untrained SRN
    assert mistakes == {
        **dict.fromkeys(("lin_structure", "lin_forward", "lin_trains"), "NetLin() needs the arguments outputs: "
                        "kuzu_main.py builds it with none, so give each a default value"),
        "full_structure": "forward does not end with log_softmax (it never calls it)",
        "full_forward": "the outputs are not log-probabilities (exp of each row must sum to 1)",
        "full_trains": "the held-out outputs are not log-probabilities (exp of each row must sum to 1), so the "
                       "loss is not a negative log likelihood",
        **dict.fromkeys(("conv_structure", "conv_forward", "conv_trains"), "NetConv.forward returns shape (2, 5) for "
                        "a batch of shape (2, 1, 28, 28): want (2, 10), one row of 10 class scores per image"),
        "step_weights": "7 of 9 points right with step",
        "anb2nc3n_lstm": "net/anb2nc3n_lstm3_K.pth cannot be read: cannot read anb2nc3n_lstm3.pth: it holds "
                         "Python objects (posix.system), not only weights and plain values, and loading them "
                         "could run code",
        "sig_weights": "7 of 9 points right with sigmoid, and outputs up to 0.15 away from the step network's: "
                       "scale the weights up further"}
    stubs = reports["stubs"]
    assert stubs["total"] == 0 and len(notes(stubs)) == len(stubs["checks"])
    assert notes(stubs)["lin_forward"] == "NetLin.forward returns int '0', not a tensor of log-probabilities of " \
        "shape (N, 10)"
    assert notes(stubs)["step_weights"].startswith("after MLP.set_weights(), the weights are empty")
    assert not (base / "pwned").exists()
    assert notes(stubs)["anb2n_srn"] == "net/anb2n_srn2_K.pth cannot be read: net/anb2n_srn2_K.pth holds an " \
        "LSTM with 2 hidden units for 2 symbols: want an SRN with 2 for anb2n's 2"
    assert notes(stubs)["anb2nc3n_lstm"] == "net/anb2nc3n_lstm3_K.pth is missing from the submission"


@pytest.mark.slow
def test_output_names_isolation_budgets_and_files(graded):
    stdout, reports, base, out, _ = graded
    assert stdout.splitlines()[0].startswith("isolation: ")
    assert f"skipped {base / 'old.grade.json'}: a file, not a submission folder" in stdout
    assert "budgets: CPU seconds per check, 10x the kit's solution on this machine, at least 1" in stdout
    assert not (base / "old.grade.json.json").exists() and not list(base.glob("*/*.json"))  # nothing among them
    names = sorted(["solution", "large", "spinner", "course", "mistakes", "stubs", *ATTACKS])
    assert sorted(reports) == names
    with open(out / "marks.csv", newline="") as file:
        rows = list(csv.reader(file))
    marks = grade.load_marks(os.path.join(ROOT, "teacher", "marks.json"))
    assert rows[0] == ["submission", *marks, "total"]
    assert [row[0] for row in rows[1:]] == names
    for row in rows[1:]:
        report = reports[row[0]]
        assert row[1:] == [f"{r['marks']:g}" for r in report["checks"]] + [f"{report['total']:g}"]
    assert set(reports["solution"]) == {"submission", "folder", "isolation", "checks", "total", "out_of"}
    assert set(reports["solution"]["checks"][0]) == {"check", "part", "file", "description", "passed", "marks",
                                                     "out_of", "note", "cpu_seconds", "budget_seconds"}


@pytest.mark.slow
def test_each_attack_ends_as_a_reason_in_its_own_rows(graded):
    _, reports, _, _, _ = graded
    for name in ATTACKS:
        assert set(notes(reports[name])) == {row["check"] for row in reports[name]["checks"]} - (
            {"anb2n_srn"} if name == "reader" else set())
        assert notes(reports[name])["lin_structure"] == "kuzu.py is missing from the submission"
    assert probe_note(reports["spinner"], "kuzu.py") == "stopped: used more than 1 s of CPU time (twice: once alone)"
    assert probe_note(reports["sleeper"]) == "stopped: no progress for 20 s (sleeping or waiting)"
    assert probe_note(reports["printer"]) == probe_note(reports["diskfill"]) == \
        "stopped: wrote more than 4 MB to a file (printed output included)"
    for name, file in (("spinner", "check.py"), ("reader", "net/anb2n_srn2_K.pth")):  # the other files still count
        assert all(row["passed"] for row in reports[name]["checks"] if row["file"] == file)
    forked = probe_note(reports["forkbomb"])
    assert forked.startswith("RuntimeError: forked ") and "then BlockingIOError" in forked
    if ISOLATION.own_users:
        assert int(forked.split()[2]) < sandbox.PROCESSES


@needs_bwrap
@pytest.mark.slow
def test_no_file_outside_the_scratch_folder_can_be_read_or_written(graded):
    _, reports, base, _, _ = graded
    assert probe_note(reports["reader"]).startswith(
        "RuntimeError: read FileNotFoundError | FileNotFoundError | FileNotFoundError")
    written = probe_note(reports["writer"])
    assert written.startswith("RuntimeError: write ") and "wrote" not in written
    assert not (base / "outside.txt").exists() and not os.path.exists("/tmp/student-was-here")
    with open(base / "solution" / "check.py") as file:
        assert "hacked" not in file.read()


@needs_bwrap
@pytest.mark.slow
def test_no_network(graded):
    _, reports, _, _, server = graded
    assert probe_note(reports["socket"]).startswith("RuntimeError: socket ConnectionRefusedError")
    with pytest.raises(BlockingIOError):
        server.accept()


@pytest.mark.slow
def test_secret_appears_in_no_output(graded):
    stdout, reports, _, out, _ = graded
    assert SECRET not in stdout and all(SECRET not in json.dumps(report) for report in reports.values())
    assert SECRET not in (out / "marks.csv").read_text()


@pytest.mark.slow
def test_resource_limits_alone_still_stop_attacks(tmp_path):
    """The path without bubblewrap: a few attacks through run_jobs, with fixed budgets."""
    isolation = sandbox.Isolation(use_bwrap=False)
    assert isolation.line.startswith("isolation: resource limits only (")
    scratch = tempfile.mkdtemp(prefix="grade-")  # beside grade.py's, where a worker's own user reaches it
    os.chmod(scratch, 0o711)
    jobs = []
    for name in ("printer", "diskfill", "forkbomb"):
        write(tmp_path / name / "check.py", attack(name, tmp_path))
        jobs.append(grade.Job(name, str(tmp_path / name), {"check.py": []}, scratch))
    try:
        results = grade.run_jobs(jobs, {"check.py": 5}, 2, isolation, scratch)
    finally:
        shutil.rmtree(scratch)
    assert results[("printer", "check.py")]["note"] == results[("diskfill", "check.py")]["note"] == \
        "stopped: wrote more than 4 MB to a file (printed output included)"
    assert results[("forkbomb", "check.py")]["note"].startswith("RuntimeError: forked ")


def test_only_regrades_the_named_and_keeps_other_rows(tmp_path, monkeypatch, capsys):
    names = list(grade.load_marks(os.path.join(ROOT, "teacher", "marks.json")))
    budgets = {name: 5 for name in ("kuzu.py", "check.py", *names)}  # as if measured: no reference run
    monkeypatch.setattr(grade, "measure_budgets", lambda *args: (budgets, budgets))
    out = tmp_path / "grades"
    header = "submission," + ",".join(names) + ",total\n"
    write(out / "marks.csv", header + "".join(f"{name}," + ",".join("1" * len(names)) + f",{len(names)}\n"
                                              for name in ("ann", "zoe")))
    write(tmp_path / "ann" / "check.py", with_attack("raise ValueError('nope')"))
    write(tmp_path / "zoe" / "check.py", "")
    grade.main([str(tmp_path / "ann"), str(tmp_path / "zoe"), "--only", "ann", "--out", str(out)])
    assert "marks of 1 submission written to" in capsys.readouterr().out
    with open(out / "marks.csv", newline="") as file:
        rows = {row[0]: row for row in csv.reader(file)}
    assert list(rows) == ["submission", "ann", "zoe"] and rows["ann"][-1] == "0" and rows["zoe"][-1] == str(len(names))
    report = json.loads((out / "ann.json").read_text())
    line = with_attack("raise ValueError('nope')").splitlines().index("raise ValueError('nope')") + 1
    assert probe_note(report) == f"ValueError: nope (check.py:{line})"  # the line of the student's file
    grade.main([str(tmp_path / "ann"), "--out", str(out)])  # without --only: marks.csv holds what was graded
    assert (out / "marks.csv").read_text() == header + "ann," + ",".join("0" * len(names)) + ",0\n"
    write(out / "marks.csv", "submission,other,total\n")
    with pytest.raises(UserError, match="has other columns"):
        grade.main([str(tmp_path / "ann"), "--only", "ann", "--out", str(out)])


def test_bad_grading_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        grade.main([str(tmp_path / "nobody")])
    (tmp_path / "a" / "alice").mkdir(parents=True)
    (tmp_path / "b" / "alice").mkdir(parents=True)
    with pytest.raises(UserError, match="two submissions are named alice"):
        grade.main([str(tmp_path / "a" / "alice"), str(tmp_path / "b" / "alice")])
    with pytest.raises(UserError, match="--only bob: no such submission"):
        grade.main([str(tmp_path / "a" / "alice"), "--only", "bob"])
    (tmp_path / "file.json").write_text("{}")
    with pytest.raises(UserError, match="no submission folders"):
        grade.main([str(tmp_path / "file.json")])
    path = tmp_path / "marks.json"
    path.write_text(json.dumps({**{name: 1 for name in grade.checks.CHECKS}, "lin_structure": -1}))
    with pytest.raises(UserError, match="lin_structure must be a number >= 0"):
        grade.load_marks(str(path))
    path.write_text(json.dumps({"lin_structur": 1}))
    with pytest.raises(UserError, match="unknown: lin_structur"):
        grade.load_marks(str(path))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "teacher", "grade.py"), str(tmp_path / "nobody")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nobody'} does not exist (a submission is a folder with kuzu.py and check.py)"]
