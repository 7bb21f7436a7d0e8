"""The build: a missing dependency stops with one clear line naming the Debian packages."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_missing_libcurl_names_the_debian_packages(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python3")   # no curl-config, no pkg-config
    proc = subprocess.run([str(bin_dir / "python3"), "setup.py", "--name"], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("frappe_webhook_c:")]
    assert len(lines) == 1, proc.stderr
    assert "libcurl" in lines[0] and "apt-get install -y libcurl4-openssl-dev libssl-dev" in lines[0]


def test_version_matches_package_metadata():
    import frappe_webhook_c

    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        assert f'version = "{frappe_webhook_c.__version__}"' in f.read()
