"""`make test-valgrind`: every public operation (tests/support/leak_workload.py) a few times under
valgrind's memcheck.  Fails on any error report or definite leak with a frame in the
project's own C sources; CPython's own reports (its GC and import machinery make a few
that are known false positives under memcheck) are counted and shown, not failed.

    python tests/valgrind_check.py [CALLS]
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OURS = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True)}
FRAME = re.compile(r"\(([\w.+-]+\.c):\d+\)")
HEAD = re.compile(r"^==\d+== (\S.*)$")


def records(log):
    """Yields (headline, frames) per error or leak record of a memcheck log."""
    head, frames = None, []
    for line in log.splitlines():
        m = HEAD.match(line)
        if not m:
            continue
        text = m.group(1)
        if text.startswith(("at 0x", "by 0x")):
            if head:
                frames.append(text)
            continue
        if head:
            yield head, frames
        is_record = ("lost in loss record" in text or text.startswith(("Invalid ", "Use of uninitialised",
                     "Conditional jump", "Mismatched free", "Syscall param", "Source and destination")))
        head, frames = (text, []) if is_record else (None, [])
    if head:
        yield head, frames


def ours(frames):
    return any(FRAME.search(f) and FRAME.search(f).group(1) in OURS for f in frames)


def main():
    calls = sys.argv[1] if len(sys.argv) > 1 else "3"
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite", "--num-callers=40",
               f"--log-file={log.name}", sys.executable, os.path.join(HERE, "support", "leak_workload.py"), "run", calls]
        run = subprocess.run(cmd, env={**os.environ, "PYTHONMALLOC": "malloc"}, timeout=1800)
        text = log.read()
    found = [(h, f) for h, f in records(text) if ours(f)]
    others = sum(1 for _ in records(text)) - len(found)
    for head, frames in found:
        print(head)
        print("\n".join("    " + f for f in frames[:25]))
    print(f"valgrind: {len(found)} report(s) in the project's code, {others} in CPython's own "
          f"(not ours; not failed); workload exit {run.returncode}")
    return 1 if found or run.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
