"""Running a submission's checks in a sandbox, under limits that mean the same on every machine.

One worker process per submission runs its checks (those of kuzu.py, check.py and the Part 3
checkpoints) one after another: it starts in a sandbox, imports torch once (about 1.1 s of CPU
time here, paid once per submission, not per check) and then, for each check the grader asks
for, forks a child that imports the student's module afresh and runs the check, so that no
check sees what another left behind. The grader (teacher/grade.py, through Worker) sends one
check at a time and watches the CPU time of the worker's whole process tree in /proc: a check
that uses more than its budget is killed with its worker, and a fresh worker runs the
submission's remaining checks. RLIMIT_CPU in the
check's child backs this up. CPU time, unlike wall-clock time, does not grow when the machine
is busy, so a budget means the same on a loaded machine; a check that sleeps uses none, so a
generous wall-clock backstop stops it too.

Every worker gets resource limits (memory, size of a file, open files, processes) and an empty
environment, and runs as a user id of its own (UID_BASE + its slot, when the grader is root),
so that the process limit binds, it cannot signal another worker, and it can clean up after
each check by killing every process of its user. Where bubblewrap works, the worker also runs
in new namespaces: no network, its own process tree, a read-only view of the system and Python
only (no home folders, no repository, no other submission), and a small tmpfs as its only
writable folder, which also bounds what it can write in all.

The sandbox protects the machine and the other students, not one's own marks: a submission
that sets out to forge its own results can, since its code runs beside its checks.
"""
import importlib
import json
import math
import os
import resource
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
import traceback

GRADER = os.path.dirname(os.path.abspath(__file__))
MEMORY = 8 * 2 ** 30    # bytes of address space; torch alone maps about 3.5 GB
FILE_SIZE = 4 * 2 ** 20  # bytes a check may write to any one file, its printed output included
OPEN_FILES = 64
PROCESSES = 64          # processes and threads of a worker's user id
SCRATCH_SIZE = 64 * 2 ** 20  # the tmpfs a check may write in, under bubblewrap
UID_BASE = 2_000_000_000     # above the ranges that systems give to users and containers
START_CPU = 120         # CPU seconds a worker may take to start (import torch) before it counts as broken
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1"}
INSIDE = "/work"        # the scratch folder's path inside bubblewrap
TICKS = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------
# Inside the sandbox: the worker and one check

def imports(file):
    """The probe run before a file's checks: does the submission's module import at all?"""
    importlib.import_module(os.path.splitext(file)[0])
    return "imports"


PROBES = {file: lambda context, file=file: imports(file) for file in ("kuzu.py", "check.py")}


def describe(err, scratch):
    """One line for an exception: its type and message and where in the submission it came from."""
    if isinstance(err, OSError) and err.errno == 27:  # EFBIG: over RLIMIT_FSIZE (Python ignores SIGXFSZ)
        return f"stopped: wrote more than {FILE_SIZE // 2 ** 20} MB to a file (printed output included)"
    if isinstance(err, OSError) and err.errno == 28:  # ENOSPC: the scratch tmpfs is full
        return f"stopped: wrote more than {SCRATCH_SIZE // 2 ** 20} MB in all"
    where = [f"{os.path.basename(frame.filename)}:{frame.lineno}" for frame in traceback.extract_tb(err.__traceback__)
             if os.path.dirname(os.path.abspath(frame.filename)) == scratch]
    message = " ".join(str(err).split())
    text = f"{type(err).__name__}{': ' + message if message else ''}{' (' + where[-1] + ')' if where else ''}"
    return text if len(text) <= 240 else text[:237] + "..."


def run_check(name, scratch):
    """Body of a check's child: run the probe or check `name`; return [passed, note]."""
    import checks
    import torch
    torch.manual_seed(0)
    try:
        probes = {**PROBES, **checks.PROBES}  # the .py files' imports, the checkpoints' loading
        function = probes[name] if name in probes else checks.CHECKS[name][3]
        return [True, function({"scratch": scratch})]
    except checks.Failed as err:
        return [False, str(err)]
    except BaseException as err:  # whatever the submission raises, SystemExit and KeyboardInterrupt included
        return [False, describe(err, scratch)]


def check_child(name, cpu, scratch, result):
    """In the forked child: its own session, a CPU limit, output into a file; run, report, exit."""
    try:
        os.setsid()
        soft = math.ceil(cpu) + 1  # the grader stops it at `cpu`; this is the backstop
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
        output = os.open(os.path.join(scratch, f"{name.replace('/', '_')}.out"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.write(result, json.dumps(run_check(name, scratch)).encode())
    finally:
        os._exit(0)


def run_in_child(name, cpu, scratch):
    """Fork a child for one check, wait for it and clear up whatever it started; the reply."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        check_child(name, cpu, scratch, write)
    os.close(write)
    _, status, usage = os.wait4(pid, 0)  # wait first: a leftover process may hold the pipe open
    try:
        if os.getuid() >= UID_BASE:
            os.kill(-1, signal.SIGKILL)  # every other process of this worker's own user (never itself)
        else:
            os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # none left
        pass
    os.set_blocking(read, False)
    try:
        data = os.read(read, 65536)
    except BlockingIOError:
        data = b""
    os.close(read)
    reply = {"cpu": usage.ru_utime + usage.ru_stime}
    try:
        passed, note = json.loads(data)
        reply.update(passed=bool(passed), note=str(note))
    except (ValueError, TypeError):
        if os.WIFSIGNALED(status):
            reply["signal"] = signal.Signals(os.WTERMSIG(status)).name
        else:
            reply["status"] = os.WEXITSTATUS(status)
    return reply


def set_limit(kind, value):
    hard = resource.getrlimit(kind)[1]
    resource.setrlimit(kind, (value if hard == resource.RLIM_INFINITY else min(value, hard),) * 2)


def worker(scratch, uid):
    """Main of the worker (python3 -I sandbox.py SCRATCH UID): limits, its own user, torch once,
    then one check per line of stdin ({"check", "cpu"}), one JSON reply per line of stdout."""
    for kind, value in ((resource.RLIMIT_AS, MEMORY), (resource.RLIMIT_FSIZE, FILE_SIZE),
                        (resource.RLIMIT_NOFILE, OPEN_FILES), (resource.RLIMIT_CORE, 0)):
        set_limit(kind, value)
    if uid:  # the process limit counts all processes of a user: only one of its own can take it
        set_limit(resource.RLIMIT_NPROC, PROCESSES)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    os.chdir(scratch)
    sys.path[:0] = [scratch, GRADER]
    importlib.import_module("checks")  # loads torch and the kit's modules once, before any student code
    import torch
    if os.path.exists("kuzu.py"):  # its checks train: torch imports this with the first optimizer,
        importlib.import_module("torch._dynamo")  # 1 s of CPU time, so once here rather than per check
    torch.set_num_threads(1)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(run_in_child(request["check"], request["cpu"], scratch)), flush=True)


# ----------------------------------------------------------------------------
# Outside: choosing the sandbox, starting and watching workers

def readable_by_all(path):
    """Whether a user of its own could reach `path`: every folder above it searchable by others."""
    return all(os.stat(parent).st_mode & 0o001 for parent in parents(os.path.realpath(path)))


def python_paths():
    """The folders Python and its packages live in, outside /usr."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    paths = sorted({path for path in paths if os.path.isdir(path)}
                   | {os.path.realpath(path) for path in paths if os.path.isdir(path)})
    return [p for p in paths if not p.startswith("/usr/") and not any(p.startswith(q + "/") for q in paths)]


class Isolation:
    """How workers are started here: with bubblewrap when it works, as users of their own when
    the grader is root, and with resource limits always. `line` says which, for the output's top."""

    def __init__(self, use_bwrap=True):
        self.root = os.geteuid() == 0
        self.bwrap = shutil.which("bwrap") if use_bwrap else None
        problem = None
        if self.bwrap:
            problem = self.try_bwrap()
            if problem:
                self.bwrap = None
        # Without bubblewrap a user of its own must reach Python where it is installed.
        self.own_users = self.root and (self.bwrap or all(readable_by_all(p) for p in python_paths()))
        processes = f"{PROCESSES} processes" if self.own_users else "no process limit (workers run as the grader)"
        limits = (f"CPU, {MEMORY // 2 ** 30} GB memory, {FILE_SIZE // 2 ** 20} MB per file, {OPEN_FILES} files, "
                  f"{processes}")
        if self.bwrap:
            self.line = (f"isolation: bubblewrap (no network, only the scratch folder writable, "
                         f"{SCRATCH_SIZE // 2 ** 20} MB), limits: {limits}")
        else:
            why = (f"bubblewrap fails here: {problem}" if problem else "install bubblewrap for no network and a "
                   "read-only file system: apt-get install bubblewrap")
            self.line = f"isolation: resource limits only ({why}), limits: {limits}"

    def try_bwrap(self):
        """None if bubblewrap runs Python here, else its first line of complaint."""
        with tempfile.TemporaryDirectory() as folder:
            command = self.bwrap_args(folder, []) + [sys.executable, "-I", "-c", "import os"]
            try:
                result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as err:
                return str(err)
        return None if result.returncode == 0 else (result.stderr.strip().splitlines() or ["failed"])[0]

    def bwrap_args(self, scratch, files):
        """bubblewrap's arguments for a worker: the system and Python read-only, the grader's two
        modules at /grader, a tmpfs at INSIDE with `files` (names in `scratch`) bound read-only."""
        args = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
        if self.root:  # bubblewrap keeps root's capabilities: keep only those to become the worker's user
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user"]
        args += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
                 "--tmpfs", "/tmp"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64"):
            path = f"/{name}"
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        made = set()
        for path in python_paths():
            for parent in reversed(list(parents(path))):
                if parent not in made and parent != "/":
                    made.add(parent)
                    args += ["--perms", "0755", "--dir", parent]
            args += ["--ro-bind", path, path]
        args += ["--perms", "0755", "--dir", "/grader"]
        for name in ("sandbox.py", "checks.py"):
            args += ["--ro-bind", os.path.join(GRADER, name), f"/grader/{name}"]
        args += ["--perms", "1777", "--size", str(SCRATCH_SIZE), "--tmpfs", INSIDE]
        for name in files:
            args += ["--ro-bind", os.path.join(scratch, name), f"{INSIDE}/{name}"]
        args += ["--clearenv"]
        for key, value in environment(INSIDE).items():
            args += ["--setenv", key, value]
        return args

    def command(self, scratch, files, uid):
        """The command line of a worker for the folder `scratch` holding `files`."""
        if self.bwrap:
            return self.bwrap_args(scratch, files) + [sys.executable, "-I", "/grader/sandbox.py", INSIDE, str(uid)]
        return [sys.executable, "-I", os.path.join(GRADER, "sandbox.py"), scratch, str(uid)]

    def uid(self, slot):
        """The user id of the workers of one slot, or 0: they run as the grader."""
        return UID_BASE + slot if self.own_users else 0


def environment(scratch):
    """A worker's whole environment: what Python and torch need, and the scratch folder as home."""
    return dict(ENV, HOME=scratch, TMPDIR=scratch, MPLCONFIGDIR=scratch)


def parents(path):
    """The folders above `path`, nearest first, "/" last."""
    while path != os.path.dirname(path):
        path = os.path.dirname(path)
        yield path


def process_table():
    """{pid: (parent pid, CPU ticks of it and its reaped children)} of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as file:
                    data = file.read()
            except OSError:  # ended meanwhile
                continue
            fields = data[data.rindex(b")") + 2:].split()
            table[int(entry)] = (int(fields[1]), sum(int(field) for field in fields[11:15]))
    return table


def tree_cpu(table, root):
    """CPU seconds used by process `root` and all its descendants, living or reaped."""
    children = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            total += table[pid][1]
            todo += children.get(pid, [])
    return total / TICKS


def kill_user(uid):
    """SIGKILL every process of user `uid` (a worker's own, so only its leftovers)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as file:
                    uids = next(line for line in file if line.startswith("Uid:")).split()[1:]
                if str(uid) in uids:
                    os.kill(int(entry), signal.SIGKILL)
            except (OSError, StopIteration):
                pass


class Worker:
    """A worker started for one submission's checks: `send` a check, `poll` for its reply."""

    def __init__(self, isolation, scratch, files, slot, log):
        self.uid = isolation.uid(slot)
        if self.uid:
            for name in [""] + list(files):
                os.chown(os.path.join(scratch, name), self.uid, self.uid)
        self.log = log
        with open(log, "w") as err:
            self.process = subprocess.Popen(isolation.command(scratch, files, self.uid), env=environment(scratch),
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                            start_new_session=True)
        self.buffer, self.ready, self.check = b"", False, None
        self.start_cpu, self.start_wall = 0.0, time.monotonic()

    def send(self, name, cpu, table):
        self.check, self.budget = name, cpu
        self.start_cpu, self.start_wall = tree_cpu(table, self.process.pid), time.monotonic()
        self.process.stdin.write((json.dumps({"check": name, "cpu": cpu}) + "\n").encode())
        self.process.stdin.flush()

    def used(self, table):
        """(CPU seconds, wall-clock seconds) since the current check or the start."""
        return tree_cpu(table, self.process.pid) - self.start_cpu, time.monotonic() - self.start_wall

    def poll(self):
        """The next reply (a dict) if one has come, {"ended": ...} if the worker ended, else None."""
        if b"\n" not in self.buffer and select.select([self.process.stdout], [], [], 0)[0]:
            data = os.read(self.process.stdout.fileno(), 65536)
            if not data:
                self.process.wait()
                return {"ended": self.why_ended()}
            self.buffer += data
        if b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            try:
                return json.loads(line)
            except ValueError:
                return {"ended": "the worker sent garbage"}
        return None

    def why_ended(self):
        code = self.process.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        try:
            with open(self.log) as file:
                last = [line.strip() for line in file if line.strip()][-1:]
        except OSError:
            last = []
        return how + (f": {last[0]}" if last else "")

    def stop(self):
        """Kill the worker and everything it started, and reap it."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:
            pass
        if self.uid:
            kill_user(self.uid)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


if __name__ == "__main__":
    worker(sys.argv[1], int(sys.argv[2]))
