"""Build of the C extension frappe_webhook_c._core against system libcurl, libcrypto and libsqlite3.

Switches from the environment: FWC_DEBUG=1 (-O0 -g, asserts), FWC_SANITIZE=1 (ASan+UBSan).
"""
import glob
import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup

APT_HINT = "install the Debian packages: apt-get install -y libcurl4-openssl-dev libssl-dev libsqlite3-dev"


def fail(what):
    sys.stderr.write(f"frappe_webhook_c: {what}; {APT_HINT}\n")
    raise SystemExit(1)


def run(cmd):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def curl_flags():
    """(cflags, libs) for libcurl: curl-config first, then pkg-config."""
    if shutil.which("curl-config"):
        cflags, libs = run(["curl-config", "--cflags"]), run(["curl-config", "--libs"])
        if cflags is not None and libs is not None:
            return shlex.split(cflags), shlex.split(libs)
    if shutil.which("pkg-config"):
        cflags, libs = run(["pkg-config", "--cflags", "libcurl"]), run(["pkg-config", "--libs", "libcurl"])
        if cflags is not None and libs is not None:
            return shlex.split(cflags), shlex.split(libs)
    fail("libcurl development files not found (no curl-config, no pkg-config libcurl)")


def header_exists(name, cflags):
    dirs = [f[2:] for f in cflags if f.startswith("-I")] + ["/usr/include", "/usr/local/include"]
    dirs += glob.glob("/usr/include/*-linux-gnu")
    return any(os.path.exists(os.path.join(d, name)) for d in dirs)


def extension():
    cflags, libs = curl_flags()
    if not header_exists("curl/curl.h", cflags):
        fail("curl/curl.h not found")
    if not header_exists("openssl/hmac.h", cflags):
        fail("openssl/hmac.h not found")
    if not header_exists("sqlite3.h", cflags):
        fail("sqlite3.h not found")
    compile_args = ["-std=c11", "-D_GNU_SOURCE=1", "-Wall", "-Wextra", "-Wno-unused-parameter",
                    "-Wno-missing-field-initializers", "-Wno-cast-function-type",
                    "-fvisibility=hidden"]
    link_args = []
    if os.environ.get("FWC_DEBUG") == "1":
        compile_args += ["-O0", "-g3", "-UNDEBUG"]
    else:
        compile_args += ["-O2", "-flto=auto"]
        link_args += ["-flto=auto", "-O2"]
    if os.environ.get("FWC_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-g"]
        compile_args += san + ["-UNDEBUG"]
        link_args += san
    return Extension(
        "frappe_webhook_c._core",
        sources=sorted(glob.glob("src/*/*.c")),
        depends=glob.glob("src/*/*.h"),
        include_dirs=["src"],
        extra_compile_args=cflags + compile_args,
        extra_link_args=link_args + libs + ["-lcrypto", "-lsqlite3", "-lpthread"],
    )


setup(ext_modules=[extension()])
