"""The pure layers (src/core, src/json, the HTTP/1.1 response parser, the store's snapshot
codec) checked by a C harness built and run without Python: tests/c/pure_check.c, compiled
here with gcc, once optimised and once with ASan+UBSan."""
import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
SOURCES = [
    os.path.join(ROOT, "tests", "c", "pure_check.c"),
    *sorted(glob.glob(os.path.join(SRC, "core", "*.c"))),
    *sorted(glob.glob(os.path.join(SRC, "json", "*.c"))),
    os.path.join(SRC, "net", "h1_response.c"),
    os.path.join(SRC, "net", "result.c"),
    os.path.join(SRC, "store", "store_codec.c"),
]
FLAGS = {
    "optimised": ["-O2"],
    "sanitized": ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"],
}


@pytest.mark.parametrize("build", sorted(FLAGS))
def test_pure_layers_without_python(build, tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to build tests/c/pure_check.c")
    exe = str(tmp_path / "pure_check")
    cmd = [gcc, "-std=c11", "-D_GNU_SOURCE=1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
           *FLAGS[build], "-I", SRC, *SOURCES, "-lcrypto", "-lm", "-o", exe]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # the sanitizer build of the extension preloads libasan into pytest: not into this child
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    r = subprocess.run([exe], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok ") and int(r.stdout.split()[1]) > 10000, r.stdout
