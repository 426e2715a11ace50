"""teacher/release.py, the student edition (teacher/grade.py's tests are in test_grade.py).

The edition is released once into a temporary folder and shared by the tests below.
"""
import ast
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from common import UserError, run_main
from teacher import release
from kit import make_kmnist

pytestmark = pytest.mark.xdist_group("test_teacher")  # its module fixtures are made once, on one worker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKED = ("kuzu.py", "check.py")


def run(args, cwd, timeout=120):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def read_tree(folder):
    """{relative path: bytes} of every file under folder."""
    files = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as file:
                files[os.path.relpath(path, folder)] = file.read()
    return files


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("release") / "student")
    release.release(ROOT, out)
    return out


# ---------------------------------------------------------------- release

def test_edition_has_stubs_and_no_solution_left(edition):
    files = read_tree(edition)
    for left_out in ("teacher/grade.py", "tests/test_teacher.py", "tests/test_kuzu.py", "tests/test_check.py",
                     "tests/kit.py", "tests/fixtures/kuzu/other_names.py", "bench/bench_kuzu.py", ".ci/run"):
        assert left_out not in files
    assert not [path for path in files if path.startswith(("teacher/", "bench/", ".ci/", "tests/fixtures/"))]
    assert "tests/test_student.py" in files and "common.py" in files and release.STAMP in files
    for path in MARKED:
        with open(os.path.join(ROOT, path)) as file:
            source = file.read()
        student = files[path].decode()
        compile(student, path, "exec")
        solution_lines = {line.strip() for first, last, _, _ in release.marked_blocks(source, path)
                          for line in source.splitlines()[first + 1:last] if len(line.strip()) > 3}
        leaked = {line.strip() for line in student.splitlines()} & solution_lines
        # all a stub keeps of the answer: the def lines and the names it assigns
        assert all(line.startswith("def ") or line.endswith("= {") for line in leaked), leaked
        assert "SOLUTION" not in student
    kuzu = files["kuzu.py"].decode()
    for net in ("NetLin", "NetFull", "NetConv"):
        assert kuzu.count(f'raise NotImplementedError("Part 1: write {net}: ') == 2  # __init__ and forward
    set_weights = next(node for node in ast.walk(ast.parse(files["check.py"]))
                       if isinstance(node, ast.FunctionDef) and node.name == "set_weights")
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in set_weights.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
              and isinstance(node.value, (ast.List, ast.Constant))}
    assert values == {"in_hid_weight": [[0, 0]] * 4, "hid_bias": [0] * 4, "hid_out_weight": [[0] * 4],
                      "out_bias": [0], "sig_scale": 0}  # the places to enter the answer, with placeholders
    assert all(b"SOLUTION -->" not in data for path, data in files.items() if path.endswith(".md"))
    settings = files["pytest.ini"].decode()  # the kit's test settings but its own (its many workers)
    assert "testpaths = tests" in settings and "slow:" in settings and "addopts" not in settings
    assert "SOLUTION" not in settings
    readme = files["README.md"].decode()
    for answer in ("[-0.5, -1.5, -2.5, -3.5]", "[[1, -1, 1, -1]]", "Scale factor for sigmoid", "For teachers"):
        assert answer not in readme, answer


def test_release_is_deterministic_and_replaces_an_earlier_edition(edition, tmp_path):
    first = read_tree(edition)
    again = str(tmp_path / "again")
    release.release(ROOT, again)
    assert read_tree(again) == first
    release.release(ROOT, again)  # into the same folder: replaced, same bytes
    assert read_tree(again) == first
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not an edition")
    with pytest.raises(UserError, match="not empty and is not a student edition"):
        release.release(ROOT, str(tmp_path / "mine"))
    with pytest.raises(UserError, match="holds the kit itself"):
        release.release(ROOT, os.path.dirname(ROOT))


SAMPLE_MD = """# Notes
keep this, and `<!-- BEGIN SOLUTION -->` in a sentence
<!-- BEGIN SOLUTION -->
the answer is 42
<!-- END SOLUTION -->
<!-- BEGIN SOLUTION: *Write your answer here.* -->
secret reasoning
<!-- END SOLUTION -->
end
"""
SAMPLE_PY = '''import math


class Model:
    # BEGIN SOLUTION: Part 9: write Model
    """It adds one."""

    def __init__(self, size=3):
        self.size = size

    @staticmethod
    def apply(x,
              y=2, *args, z, w=1, **kw) -> float:
        # comment before the body
        return x + y + 1
    # END SOLUTION


def double(x):
    # BEGIN SOLUTION: Part 9: double it
    return 2 * x
    # END SOLUTION


# BEGIN SOLUTION: Part 9: pick the numbers
WEIGHTS = {"a": [-1.5, 2e-3], "b": (3, -4)}  # why
SCALE = -10
# END SOLUTION
'''
SAMPLE_PY_STUB = '''import math


class Model:
    # Part 9: write Model

    def __init__(self):
        raise NotImplementedError("Part 9: write Model")

    @staticmethod
    def apply(x, *args, z, **kw) -> float:
        raise NotImplementedError("Part 9: write Model")


def double(x):
    raise NotImplementedError("Part 9: double it")


# Part 9: pick the numbers (the zeros are placeholders)
WEIGHTS = {"a": [0, 0], "b": (0, 0)}
SCALE = 0
'''


def make_kit(folder, py=SAMPLE_PY, md=SAMPLE_MD):
    """A small kit with a teacher folder (left out) and no git (every file is taken)."""
    os.makedirs(os.path.join(folder, "teacher"))
    shutil.copy(os.path.join(ROOT, "teacher", "release.py"), os.path.join(folder, "teacher"))
    shutil.copy(os.path.join(ROOT, "common.py"), folder)
    for name, text in (("mod.py", py), ("README.md", md), ("check.csv", "x\n1\n"), ("notes.txt", "kept back\n")):
        with open(os.path.join(folder, name), "w") as file:
            file.write(text)
    return folder


def test_markers_in_python_and_markdown(tmp_path):
    kit = make_kit(str(tmp_path / "kit"))
    written = release.release(kit, str(tmp_path / "out"))
    assert written == {"README.md": 2, "check.csv": 0, "common.py": 0, "mod.py": 3}  # teacher/, notes.txt kept back
    notes = (tmp_path / "out" / "README.md").read_text()
    assert notes == "# Notes\nkeep this, and `<!-- BEGIN SOLUTION -->` in a sentence\n*Write your answer here.*\nend\n"
    assert (tmp_path / "out" / "mod.py").read_text() == SAMPLE_PY_STUB


@pytest.mark.parametrize("case, line, message", [
    ("unclosed", 3, "BEGIN SOLUTION is never closed"),
    ("nested", 4, "BEGIN SOLUTION inside the block opened at line 2"),
    ("end first", 2, "END SOLUTION without a BEGIN SOLUTION"),
    ("unknown", 2, "unknown marker '# BEGIN ANSWER: x'"),
    ("no pointer", 2, "BEGIN SOLUTION needs a pointer"),
    ("not a stub", 3, "not a If statement"),
])
def test_malformed_marker_names_file_and_line(tmp_path, case, line, message):
    body = {
        "unclosed": ["x = 1", "", "# BEGIN SOLUTION: a", "y = 2"],
        "nested": ["x = 1", "# BEGIN SOLUTION: a", "y = 2", "# BEGIN SOLUTION: b", "# END SOLUTION"],
        "end first": ["x = 1", "# END SOLUTION"],
        "unknown": ["x = 1", "# BEGIN ANSWER: x", "# END ANSWER"],
        "no pointer": ["x = 1", "# BEGIN SOLUTION", "y = 2", "# END SOLUTION"],
        "not a stub": ["x = 1", "", "# BEGIN SOLUTION: a", "if x:", "    y = 2", "# END SOLUTION"],
    }[case]
    kit = make_kit(str(tmp_path / "kit"), py="\n".join(body) + "\n")
    with pytest.raises(UserError) as error:
        release.release(kit, str(tmp_path / "out"))
    assert str(error.value).startswith(f"mod.py:{line}: ") and message in str(error.value)
    assert not (tmp_path / "out").exists()  # nothing written


def test_malformed_markdown_stops_the_command_with_one_line(tmp_path, capsys):
    kit = make_kit(str(tmp_path / "kit"), md="# Notes\n<!-- BEGIN SOLUTION -->\nanswer\n")
    with pytest.raises(SystemExit) as exit:
        run_main(lambda: release.main(["--out", str(tmp_path / "out")], root=kit))
    assert exit.value.code == 2
    assert capsys.readouterr() == ("", "error: README.md:2: BEGIN SOLUTION is never closed by END SOLUTION\n")


@pytest.mark.slow
def test_edition_scripts_stop_with_one_line_at_a_stub(edition, tmp_path):
    data = make_kmnist(str(tmp_path / "data"), n_train=20, n_test=10)
    result = run(["kuzu_main.py", "--net", "conv", "--epochs", "1", "--data_dir", data, "--no_cuda"], edition)
    assert result.returncode == 2
    assert result.stderr.startswith("error: Part 1: write NetConv: two conv layers") and result.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def edition_tests(edition):
    """The edition's own tests, run by the README's test command in the edition."""
    return run(["-m", "pytest", "-q", "-p", "no:cacheprovider"], edition)


@pytest.mark.slow
def test_student_tests_point_at_each_stub_in_the_edition(edition_tests):
    result = edition_tests
    assert result.returncode == 1 and "9 failed" in result.stdout  # and pass on the solution: they run here too
    for task in ("Part 1: write NetLin", "Part 1: write NetFull", "Part 1: write NetConv",
                 "step: 4 of 9 points right; Part 2: enter your weights in set_weights in check.py",
                 "sig: 4 of 9 points right; Part 2: enter your weights in set_weights in check.py and scale them"):
        assert task in result.stdout


def readme_commands(text):
    """The `python3 ...` commands of a README: the lines of its bash blocks and its inline code."""
    commands = [line.split(" #")[0].strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)
                for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    return commands + re.findall(r"`(python3 [^`]+)`", text)


@pytest.mark.slow
def test_every_command_and_link_of_the_edition_readme_works_in_the_edition(edition, edition_tests):
    with open(os.path.join(edition, "README.md")) as file:
        text = file.read()
    for link in re.findall(r"\]\(([^)#]+)", text):
        assert link.startswith("http") or os.path.exists(os.path.join(edition, link)), link
    flags = {}  # script -> the flag lists the README gives it
    for command in readme_commands(text):
        words = shlex.split(command)
        assert words[0] == "python3", command
        if words[1] == "-m":
            assert words[2] in ("pip", "pytest"), command  # pytest runs in the edition below
            continue
        script, args = words[1], words[2:]
        assert os.path.isfile(os.path.join(edition, script)), command
        # placeholders (NET, FLAGS, S, PATH) and the flag before one stand for the reader's values
        placeholder = [i for i, word in enumerate(args) if word.isupper() and word.isalpha()]
        drop = set(placeholder) | {i - 1 for i in placeholder if i > 0 and args[i - 1].startswith("--")}
        flags.setdefault(script, []).append([word for i, word in enumerate(args) if i not in drop])
    assert set(flags) == {"kuzu_main.py", "check_main.py", "seq_train.py", "seq_plot.py"}
    for script, arg_lists in flags.items():  # each script's own parser takes every one of them
        module = os.path.splitext(script)[0]
        code = f"import sys, {module}\nfor args in {arg_lists!r}:\n    {module}.parse_args(args)\n"
        result = run(["-c", code], edition)
        assert result.returncode == 0, (script, result.stderr)
    assert "python3 -m pytest -q" in readme_commands(text)  # the test command that edition_tests runs
    assert edition_tests.returncode == 1 and "9 failed" in edition_tests.stdout  # until the work is done
