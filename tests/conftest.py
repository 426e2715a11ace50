"""What every test shares: torch on one thread (the networks are tiny, and more threads only wait
for each other on a shared machine), and a guard that fails any test that writes in the
repository rather than in its tmp_path. The script runner is kit.run_script."""
import os
import tempfile

import pytest
import torch
from hypothesis.configuration import set_hypothesis_home_dir

from kit import ROOT

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
