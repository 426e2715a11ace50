"""Write the student edition of the kit: the same files with the answers taken out.

    python3 teacher/release.py --out ../nnlab-student

Answers are marked in the source with plain comments that do not change how the kit runs:

    # BEGIN SOLUTION: <one-line pointer to the task>        (Python)
    ...the answer...
    # END SOLUTION

    <!-- BEGIN SOLUTION -->  or  <!-- BEGIN SOLUTION: <text put in its place> -->   (Markdown)
    ...the answer...
    <!-- END SOLUTION -->

In a Python file the block becomes a stub at the marker's indentation. Inside a function it
becomes `raise NotImplementedError(pointer)`, unless it holds only assignments (the numbers a
student enters, say): those are kept with each number replaced by 0, under the pointer as a
comment. Elsewhere (a class body, the module) the stub is the pointer as a comment, every function
in the block reduced to its `def` line (less the parameters that have defaults) and that `raise`,
every assignment kept with each number replaced by 0, and nothing else (docstrings and comments
go). In a Markdown file the block is removed, or replaced by the marker's text; in an .ini file
(pytest.ini: the kit's own test settings) it is marked as in Python and removed. A marker
that is unclosed, nested, unknown or has no pointer in Python stops the release with one line
naming the file and line. Only the files SHIPPED names go into the edition (an allow-list, so
that a new teacher-only file stays with the teacher unless it is added there). The same tree always gives the same edition, byte for byte; releasing again into
the same folder replaces the earlier edition.
"""
import argparse
import ast
import copy
import fnmatch
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common import UserError, run_main  # noqa: E402  (needs ROOT on the path)

# Paths (a trailing / means a whole folder) that stay with the teacher.
# The files of the edition, as patterns of paths (a * stays within one folder): the kit's modules
# and scripts, its data and set-up files, the README and the students' own tests.
SHIPPED = ("*.py", "check.csv", "requirements.txt", "pytest.ini", ".gitignore", "README.md", "tests/test_student.py")
# Marks a folder as an edition, so that releasing again may replace it (and nothing else).
STAMP = ".student-edition"
STAMP_TEXT = "Student edition written by teacher/release.py; releasing again replaces this folder.\n"

MARKERS = {  # file extension -> (begin, end, anything that looks like a marker)
    ".py": (re.compile(r"^(\s*)# BEGIN SOLUTION(?:: (.*\S))?\s*$"),
            re.compile(r"^\s*# END SOLUTION\s*$"),
            re.compile(r"^\s*#+\s*(BEGIN|END)\s+[A-Z]")),
    ".md": (re.compile(r"^(\s*)<!-- BEGIN SOLUTION(?:: (.*\S))? -->\s*$"),
            re.compile(r"^\s*<!-- END SOLUTION -->\s*$"),
            re.compile(r"^\s*<!--\s*(BEGIN|END)\s+[A-Z]")),
}
MARKERS[".ini"] = MARKERS[".py"]  # the same comments; a block is removed, as in Markdown


# ----------------------------------------------------------------------------
# Which files

def shipped(path, patterns):
    """Whether `path` (relative, with /) matches one of `patterns`, a * not crossing folders."""
    return any(fnmatch.fnmatch(path, pattern) and path.count("/") == pattern.count("/") for pattern in patterns)


def source_files(root, out, patterns=SHIPPED):
    """The kit's files, relative to root, sorted: those git tracks, or (no git) every file but
    the ones .gitignore names; only those `patterns` ship (see shipped), the output folder excluded."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
        paths = [p for p in listed.stdout.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        paths = walk_files(root)
    out = os.path.abspath(out)
    return sorted(p for p in paths
                  if os.path.isfile(os.path.join(root, p)) and not os.path.islink(os.path.join(root, p))
                  and shipped(p, patterns)
                  and not os.path.abspath(os.path.join(root, p)).startswith(out + os.sep))


def walk_files(root):
    """Every file under root except .git and what .gitignore's simple patterns name."""
    patterns = [".git"]
    if os.path.isfile(os.path.join(root, ".gitignore")):
        with open(os.path.join(root, ".gitignore")) as file:
            patterns += [line.strip().rstrip("/") for line in file if line.strip() and not line.startswith("#")]
    ignored = lambda name: any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
    paths = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not ignored(d))
        paths += [os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/") for f in files if not ignored(f)]
    return paths


# ----------------------------------------------------------------------------
# Marked blocks

def marked_blocks(text, path):
    """Yield (begin line index, end line index, indentation, pointer) for each marked block of a
    .py, .md or .ini file's lines; UserError naming path:line for a malformed marker."""
    begin, end, anything = MARKERS[os.path.splitext(path)[1]]
    lines = text.splitlines()
    opened = None
    for number, line in enumerate(lines, start=1):
        if begin.match(line):
            if opened:
                raise UserError(f"{path}:{number}: BEGIN SOLUTION inside the block opened at line {opened[0] + 1}")
            indent, pointer = begin.match(line).groups()
            if path.endswith(".py") and not pointer:
                raise UserError(f"{path}:{number}: BEGIN SOLUTION needs a pointer to the task: "
                                "'# BEGIN SOLUTION: Part N: write ...'")
            opened = (number - 1, indent, pointer)
        elif end.match(line):
            if not opened:
                raise UserError(f"{path}:{number}: END SOLUTION without a BEGIN SOLUTION before it")
            yield opened[0], number - 1, opened[1], opened[2]
            opened = None
        elif anything.search(line):
            raise UserError(f"{path}:{number}: unknown marker {line.strip()!r}: the markers are "
                            "BEGIN SOLUTION and END SOLUTION")
    if opened:
        raise UserError(f"{path}:{opened[0] + 1}: BEGIN SOLUTION is never closed by END SOLUTION")


def raise_line(pointer):
    return f"raise NotImplementedError({json.dumps(pointer)})"


def signature(function):
    """A function's decorator and def lines, without the parameters that have defaults (how big a
    layer is, say, is part of the answer); callers of the stub pass none, so it still raises."""
    args = copy.deepcopy(function.args)
    required = len(args.posonlyargs) + len(args.args) - len(args.defaults)
    args.posonlyargs, args.args = args.posonlyargs[:required], args.args[:max(0, required - len(args.posonlyargs))]
    args.kwonlyargs = [arg for arg, default in zip(args.kwonlyargs, args.kw_defaults) if default is None]
    args.defaults, args.kw_defaults = [], [None] * len(args.kwonlyargs)
    returns = f" -> {ast.unparse(function.returns)}" if function.returns else ""
    asynchronous = "async " if isinstance(function, ast.AsyncFunctionDef) else ""
    return ([f"@{ast.unparse(decorator)}" for decorator in function.decorator_list]
            + [f"{asynchronous}def {function.name}({ast.unparse(args)}){returns}:"])


def python_stub(block, indent, pointer, where):
    """The stub that replaces a Python block's lines (see the module docstring)."""
    source = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in block)
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise UserError(f"{where}: the marked block is not valid Python on its own ({err.msg})") from None
    lines = source.splitlines()
    stub = [f"# {pointer}"]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stub += [""] + signature(node) + ["    " + raise_line(pointer)]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            stub[0] = f"# {pointer} (the zeros are placeholders)"
            stub += zeroed(lines[node.lineno - 1:node.end_lineno])
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):  # docstrings go
            raise UserError(f"{where}: a marked block may hold functions, assignments and docstrings, "
                            f"not a {type(node).__name__} statement (line {node.lineno} of the block)")
    return [indent + line if line else "" for line in stub]


def zeroed(lines):
    """An assignment's lines with every number (and its sign) replaced by 0 and comments removed."""
    edits = []  # (row, start col, end col, new text)
    previous = []
    for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
        if token.type == tokenize.NUMBER:
            start = token.start
            if (len(previous) == 2 and previous[1].string in "+-" and previous[1].type == tokenize.OP
                    and previous[0].string in ("(", "[", "{", ",", "=", ":")):
                start = previous[1].start  # a sign, not a subtraction
            edits.append((start[0], start[1], token.end[1], "0"))
        elif token.type == tokenize.COMMENT:
            edits.append((token.start[0], token.start[1], token.end[1], ""))
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            previous = (previous + [token])[-2:]
    lines = list(lines)
    for row, start, end, new in reversed(edits):
        lines[row - 1] = lines[row - 1][:start] + new + lines[row - 1][end:]
    return [line.rstrip() for line in lines]


def in_function(tree, lines, first, last):
    """Whether the code lines between marker lines first and last (0-based) are a function's body."""
    code = [n + 1 for n in range(first + 1, last) if lines[n].strip() and not lines[n].strip().startswith("#")]
    return bool(code) and any(node.lineno < code[0] <= node.end_lineno for node in ast.walk(tree)
                              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))


def only_assignments(block, indent):
    """Whether a block's lines are assignments and comments only."""
    source = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in block)
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(node, (ast.Assign, ast.AnnAssign)) for node in body)


def student_text(text, path):
    """A .py, .md or .ini file's text with its marked blocks replaced; other files unchanged.
    Returns (text, number of blocks replaced)."""
    if os.path.splitext(path)[1] not in MARKERS:
        return text, 0
    lines = text.splitlines()
    blocks = list(marked_blocks(text, path))
    if path.endswith(".py") and blocks:
        try:
            tree = ast.parse(text)
        except SyntaxError as err:
            raise UserError(f"{path}:{err.lineno}: not valid Python ({err.msg})") from None
    for first, last, indent, pointer in reversed(blocks):
        if path.endswith(".py") and in_function(tree, lines, first, last) \
                and not only_assignments(lines[first + 1:last], indent):
            replacement = [indent + raise_line(pointer)]
        elif path.endswith(".py"):
            replacement = python_stub(lines[first + 1:last], indent, pointer, f"{path}:{first + 1}")
        else:
            replacement = [indent + pointer] if pointer else []
        lines[first:last + 1] = replacement
    return "\n".join(lines) + ("\n" if text.endswith("\n") else ""), len(blocks)


# ----------------------------------------------------------------------------
# Writing the edition

def check_out_dir(out, root):
    """The edition's folder must be new, empty, or an earlier edition, and not hold the kit."""
    out, root = os.path.abspath(out), os.path.abspath(root)
    if out == root or root.startswith(out + os.sep):
        raise UserError(f"--out {out} holds the kit itself; give a folder outside it")
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise UserError(f"--out {out} is a file, not a folder")
        if os.listdir(out) and not os.path.isfile(os.path.join(out, STAMP)):
            raise UserError(f"--out {out} is not empty and is not a student edition; give a new or empty folder")
    return out


def release(root, out, patterns=SHIPPED):
    """Write the student edition of the kit at `root` into `out`; return {path: blocks replaced}."""
    out = check_out_dir(out, root)
    edition = {}
    for path in source_files(root, out, patterns):  # read and transform everything before writing anything
        with open(os.path.join(root, path), "rb") as file:
            data = file.read()
        blocks = 0
        if os.path.splitext(path)[1] in MARKERS:
            text, blocks = student_text(data.decode("utf-8"), path)
            data = text.encode("utf-8")
        executable = os.access(os.path.join(root, path), os.X_OK)
        edition[path] = (data, executable, blocks)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".release-")
    try:
        os.chmod(staging, 0o755)
        for path, (data, executable, _) in sorted(edition.items()) + [(STAMP, (STAMP_TEXT.encode(), False, 0))]:
            target = os.path.join(staging, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as file:
                file.write(data)
            os.chmod(target, 0o755 if executable else 0o644)
        if os.path.exists(out):
            shutil.rmtree(out)  # empty, or an earlier edition (check_out_dir made sure)
        os.rename(staging, out)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)
    return {path: blocks for path, (_, _, blocks) in edition.items()}


def main(argv=None, root=ROOT):
    parser = argparse.ArgumentParser(description="Write the student edition of the kit: solution blocks "
                                                 "replaced by stubs, the teacher's files left out.")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for the edition: new, empty, or an earlier edition (replaced) (required)")
    args = parser.parse_args(argv)
    written = release(root, args.out)
    replaced = ", ".join(f"{path} {n}" for path, n in written.items() if n)
    print(f"student edition written to {args.out}: {len(written)} files; solution blocks replaced: {replaced}")
    print(f"shipped: only {', '.join(SHIPPED)} (teacher/release.py SHIPPED)")


if __name__ == "__main__":
    run_main(main)
