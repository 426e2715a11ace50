"""What every test shares: torch on one thread (the networks are tiny, and more threads only wait
for each other on a shared machine), and a guard that fails any test that writes in the
repository rather than in its tmp_path. The script runners: kit.run_script (a process of its own)
and the fixture run_in_process."""
import collections
import os
import shutil
import sys
import tempfile

import pytest
import torch
from hypothesis.configuration import set_hypothesis_home_dir

from kit import ROOT, run_command_line

torch.set_num_threads(1)
# Hypothesis keeps its caches in ./.hypothesis unless told otherwise, from the moment it collects
# a test: here they go into a folder of this run's own, removed when it ends.
HYPOTHESIS_HOME = tempfile.TemporaryDirectory(prefix='hypothesis-')
set_hypothesis_home_dir(HYPOTHESIS_HOME.name)
NOT_WATCHED = {'.git', '__pycache__', '.pytest_cache'}      # caches that running the code fills


def repository_listing():
    """Every file and folder of the repository (but its caches), relative to it."""
    found = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in NOT_WATCHED]
        found.update(os.path.relpath(os.path.join(folder, name), ROOT) for name in dirs + files)
    return found


@pytest.fixture(autouse=True)
def writes_only_in_tmp_path():
    before = repository_listing()
    yield
    after = repository_listing()
    made, removed = sorted(after - before), sorted(before - after)
    assert not made and not removed, (f'the test changed the repository (made {made}, removed {removed}): '
                                      'write in tmp_path')


Run = collections.namedtuple("Run", "returncode stdout stderr")


@pytest.fixture
def run_in_process(monkeypatch, capsys, tmp_path):
    """run(main, script, *args, drop_in={module: path}): run a script's main() as its command line
    does, in tmp_path, but in this process, so without importing torch again (most of a short
    run's seconds); a Run of its exit status and output. drop_in puts a student's file in place of
    the kit's module of that name, found on the module path as the script finds it."""
    def run(main, script, *args, drop_in=None):
        monkeypatch.chdir(tmp_path)  # where what it writes by default (plot/, net/) goes
        for name, path in (drop_in or {}).items():
            folder = tmp_path / ".drop-in" / name
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, folder / f"{name}.py")
            monkeypatch.syspath_prepend(str(folder))
            monkeypatch.delitem(sys.modules, name, raising=False)  # the kit's comes back after the test
        capsys.readouterr()
        try:
            status = run_command_line(main, script, args)
        finally:
            for name in drop_in or {}:
                sys.modules.pop(name, None)  # the student's module, imported by the run
        out, err = capsys.readouterr()
        return Run(status, out, err)
    return run
