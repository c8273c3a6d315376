"""The embedded default database: a private PostgreSQL cluster under the data dir.

With no DATABASE_URL the project runs its own server with the machine's
`initdb`/`pg_ctl`, listening on a loopback port only, with a generated
password, and reuses it on the next run. PostgreSQL refuses to run as root,
so as root the cluster belongs to the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from taskcode.errors import DatabaseError

log = logging.getLogger(__name__)

DB_NAME = "taskcode"
DB_USER = "taskcode"
INSTALL_HINT = (
    "PostgreSQL server programs (initdb, pg_ctl) not found; install them "
    "(Debian/Ubuntu: sudo apt-get install -y postgresql, macOS: brew install postgresql) "
    "or set DATABASE_URL to an existing server"
)


def find_program(name: str) -> str:
    """Find a PostgreSQL server program on PATH or in Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    raise DatabaseError(INSTALL_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Free for PostgreSQL: nobody listens there.

    PostgreSQL binds with SO_REUSEADDR, so the TIME_WAIT leftovers of a stopped
    server's connections do not count: a restart keeps the port its clients know.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class LocalCluster:
    """One PostgreSQL cluster in `<data_dir>/postgres`, started on demand."""

    def __init__(self, data_dir: Path | str, *, durable: bool = True):
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "postgres"
        self.password_file = self.data_dir / "postgres.password"
        self.port_file = self.data_dir / "postgres.port"
        self.log_file = self.data_dir / "postgres.log"
        # Throwaway test clusters trade crash safety for speed; real ones never do.
        self.durable = durable
        self.as_root = os.geteuid() == 0

    # -- public -----------------------------------------------------------

    def ensure_running(self) -> str:
        """Create and start the cluster if needed; return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if not (self.pgdata / "PG_VERSION").exists():
                self._init()
            port = self._running_port()
            if port is None:
                port = self._start()
            self._ensure_database(port)
            return self.url(port)

    def url(self, port: int) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql://{DB_USER}:{password}@127.0.0.1:{port}/{DB_NAME}"

    def stop(self) -> bool:
        """Stop the server if it runs; True if it was running."""
        if not (self.pgdata / "PG_VERSION").exists() or self._running_port() is None:
            return False
        self._run([find_program("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        return True

    # -- steps ------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self):
        # Several processes (Airflow tasks, a test and the demo) may start it at once.
        with open(self.data_dir / "postgres.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _init(self) -> None:
        initdb = find_program("initdb")
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise DatabaseError(
                f"{self.pgdata} exists but is not a PostgreSQL cluster; move it away or set DATABASE_URL"
            )
        self.pgdata.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        pwfile = self.data_dir / ".initdb-password"
        pwfile.write_text(password + "\n")
        try:
            if self.as_root:
                self._hand_to_postgres_user(pwfile)
            log.info("creating the local PostgreSQL cluster in %s", self.pgdata)
            self._run(
                [
                    initdb,
                    "-D",
                    str(self.pgdata),
                    "-U",
                    DB_USER,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8" if _has_c_utf8() else "--no-locale",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        settings = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "max_connections = 100",
        ]
        if not self.durable:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write("\n# taskcode: loopback only, TCP only\n" + "\n".join(settings) + "\n")

    def _hand_to_postgres_user(self, pwfile: Path) -> None:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise DatabaseError(
                "running as root, and PostgreSQL refuses root: create the 'postgres' user "
                "(apt-get install -y postgresql does) or set DATABASE_URL"
            ) from None
        for path in (self.pgdata, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
        self.pgdata.chmod(0o700)
        check = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(self.pgdata)], capture_output=True)
        if check.returncode != 0:
            raise DatabaseError(
                f"the 'postgres' user cannot reach {self.pgdata}: make its parent folders "
                "traversable (chmod o+x) or set TASKCODE_DATA_DIR to another folder"
            )

    def _running_port(self) -> int | None:
        pg_ctl = find_program("pg_ctl")
        status = self._run([pg_ctl, "-D", str(self.pgdata), "status"], check=False)
        if status.returncode != 0:
            return None
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        return int(lines[3])

    def _start(self) -> int:
        saved = int(self.port_file.read_text()) if self.port_file.exists() else 0
        port = saved if saved and _port_is_free(saved) else free_port()
        self.port_file.write_text(f"{port}\n")
        if self.as_root:
            self.log_file.touch()
            user = pwd.getpwnam("postgres")
            os.chown(self.log_file, user.pw_uid, user.pw_gid)
        log.info("starting the local PostgreSQL on 127.0.0.1:%d", port)
        result = self._run(
            [
                find_program("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=False,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            raise DatabaseError(f"the local PostgreSQL did not start ({tail[0]}); see {self.log_file}")
        return port

    def _ensure_database(self, port: int) -> None:
        import psycopg2

        password = self.password_file.read_text().strip()
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, password=password, dbname="postgres")
                break
            except psycopg2.OperationalError:
                # pg_ctl -w returned, but a crash-recovering server may still refuse.
                if time.monotonic() > deadline:
                    raise DatabaseError(
                        f"the local PostgreSQL on port {port} refuses connections; see {self.log_file}"
                    ) from None
                time.sleep(0.2)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            conn.close()

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        program = os.path.basename(argv[0])
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        # A new session: Ctrl-C in the terminal that started it must not kill the server.
        result = subprocess.run(argv, capture_output=True, text=True, start_new_session=True, cwd="/")
        if check and result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise DatabaseError(f"{program} failed: {message[-1] if message else result.returncode}")
        return result


def _has_c_utf8() -> bool:
    result = subprocess.run(["locale", "-a"], capture_output=True, text=True)
    return any(line.lower() in ("c.utf8", "c.utf-8") for line in result.stdout.splitlines())
