"""A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, a Unix socket only.

PostgreSQL refuses to run as root: as root, the cluster belongs to `nobody` (through
`runuser`). The test is skipped, with the reason, where the server's binaries or a Python
driver are missing (`.ci/run` installs the server; the `dev` extra has the driver).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PORT = 5432  # only names the socket file in the cluster's own folder: no TCP port is opened
USER = "kerasopt"


def server_binaries() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).parent)):
        return Path(found).parent
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(debian[-1]).parent if debian else None


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a server in a fresh folder; yield its SQLAlchemy URL; stop it and delete the folder."""
    pytest.importorskip("psycopg2", reason="no PostgreSQL driver: pip install psycopg2-binary (dev extra)")
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are absent (apt-get install postgresql; .ci/run does)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="kopg"))  # short: a socket path is at most 107 bytes
    if os.geteuid() == 0:  # postgres will not run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            shutil.rmtree(folder)
            pytest.skip("running as root and `runuser` is absent: cannot start PostgreSQL as another user")
        as_user = [runuser, "-u", "nobody", "--"]
        folder.chmod(0o755)
        shutil.chown(folder, "nobody", "nogroup" if _has_group("nogroup") else None)
    data = folder / "data"
    pg_ctl = [*as_user, str(binaries / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        subprocess.run([*pg_ctl, "-l", str(folder / "server.log"), "-w", "-o",
                        f"-k {folder} -p {PORT} -c listen_addresses='' -c fsync=off", "start"],
                       check=True, capture_output=True)
        try:
            yield f"postgresql+psycopg2://{USER}@/postgres?host={folder}&port={PORT}"
        finally:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _has_group(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
