#!/usr/bin/env python3
"""The two quick-start commands. Needs only Python 3.11+ (standard library) and pip.

    python3 scripts/dev.py serve [slis serve options]   run the bot on http://127.0.0.1:3000
                                                        (try it at http://127.0.0.1:3000/sandbox)
    python3 scripts/dev.py test  [pytest options]       lint, types, import contracts, tests

Both create `.venv` in the repository root when it is missing and (re)install the project into
it, with its development tools, whenever pyproject.toml has changed since the last install.
`serve` runs in the current directory (where `slis.db` and `.env` are); the checks of `test`
run from the repository root. Either way `.venv` comes first on PATH.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".slis-venv-stamp"
PYPROJECT = ROOT / "pyproject.toml"

USAGE = """\
usage: python3 scripts/dev.py serve [ARGS...]   migrate, load the sample directory, run the bot
       python3 scripts/dev.py test [ARGS...]    ruff, ruff format, mypy, lint-imports, pytest

ARGS after `serve` go to `slis serve` (e.g. --port 3001); after `test`, to pytest (e.g. -k help).
"""

# pytest's exit code when it collected no tests: a broken test tree, never a pass.
PYTEST_NO_TESTS = 5


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def fail(message: str, code: int = 1) -> int:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)
    return code


def tool(name: str) -> str:
    """The path of a program installed in the venv."""
    suffix = ".exe" if os.name == "nt" else ""
    return str(BIN / f"{name}{suffix}")


def venv_environ() -> dict[str, str]:
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run(argv: Sequence[str], cwd: Path | None = ROOT) -> int:
    return subprocess.call(list(argv), cwd=cwd, env=venv_environ())


def pyproject_hash() -> str:
    return hashlib.sha256(PYPROJECT.read_bytes()).hexdigest()


def venv_works() -> bool:
    python = Path(tool("python"))
    if not python.exists():
        return False
    probe = [str(python), "-c", "import pip"]
    return subprocess.call(probe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def ensure_env() -> int:
    """Create .venv if needed and install the project when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - the script may be run by an older python3
        return fail(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]})")
    fresh = False
    if not venv_works():
        say(f"creating {VENV.relative_to(ROOT)} with {sys.executable}")
        code = subprocess.call([sys.executable, "-m", "venv", "--clear", str(VENV)], cwd=ROOT)
        if code != 0 or not venv_works():
            shutil.rmtree(VENV, ignore_errors=True)
            return fail(
                "could not create the virtual environment; on Debian/Ubuntu install the "
                "python3-venv package (apt-get install python3-venv) and try again",
                code or 1,
            )
        fresh = True
    wanted = pyproject_hash()
    installed = STAMP.read_text(encoding="utf-8").strip() if STAMP.exists() else ""
    if fresh or installed != wanted:
        STAMP.unlink(missing_ok=True)
        say("installing the project and its development tools into .venv (pip install -e .[dev])")
        pip = subprocess.run(
            [
                tool("python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--editable",
                ".[dev]",
            ],
            cwd=ROOT,
            env=venv_environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
        )
        if pip.returncode != 0:  # pip's output only when it failed; its warnings are noise
            print(pip.stdout, end="", file=sys.stderr)
            return fail(f"pip install failed (exit code {pip.returncode})", pip.returncode)
        STAMP.write_text(wanted + "\n", encoding="utf-8")
    return 0


def serve(args: Sequence[str]) -> int:
    """Migrate, load the sample directory, then become `slis serve` (in the current directory)."""
    slis = tool("slis")
    for step in (["db", "upgrade"], ["directory", "load-sample"]):
        say("slis " + " ".join(step))
        code = run([slis, *step], cwd=None)
        if code != 0:
            return fail(f"`slis {' '.join(step)}` failed (exit code {code})", code)
    say("slis serve " + " ".join(args))
    argv = [slis, "serve", *args]
    if os.name == "nt":  # no exec on Windows: wait for the server and pass its exit code on
        return run(argv, cwd=None)
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child process: Ctrl-C and signals from a supervisor reach the server.
    os.execve(slis, argv, venv_environ())  # noqa: S606 - fixed argv, no shell


def pytest_args(args: Sequence[str]) -> list[str]:
    """The arguments for pytest: the suite runs on every core (pytest-xdist) unless the
    arguments choose (`-n 0`, `-n 4`, `-p no:xdist`) or name a test to debug with `--pdb`."""
    chosen = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args)
    if chosen or "--pdb" in args or "no:xdist" in args:
        return list(args)
    return ["-n", "auto", *args]


def test(args: Sequence[str]) -> int:
    """Run every check in order; stop at the first failure and return its exit code."""
    args = pytest_args(args)
    steps: list[tuple[str, list[str]]] = [
        ("ruff check .", [tool("ruff"), "check", "."]),
        ("ruff format --check .", [tool("ruff"), "format", "--check", "."]),
        ("mypy", [tool("mypy")]),
        ("lint-imports", [tool("lint-imports")]),
        (" ".join(["pytest", *args]), [tool("pytest"), *args]),
    ]
    for title, argv in steps:
        say(title)
        code = run(argv)
        if code == PYTEST_NO_TESTS and argv[0] == tool("pytest"):
            return fail("pytest collected no tests: that is a failure", code)
        if code != 0:
            return fail(f"`{title}` failed (exit code {code})", code)
    say("all checks passed")
    return 0


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command, args = argv[0], list(argv[1:])
    commands = {"serve": serve, "test": test}
    if command not in commands:
        print(USAGE, end="", file=sys.stderr)
        return fail(f"unknown command {command!r}", 2)
    code = ensure_env()
    if code != 0:
        return code
    return commands[command](args)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
