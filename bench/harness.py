"""What every benchmark shares: the machine, a throwaway PostgreSQL, settings
aimed at the emulator, stages run as their own process, and the result rows.

A benchmark script is runnable alone (`.venv/bin/python bench/NAME.py`) and
prints its own figures; `bench/run.py` runs them all and prints one table.
Each script has `measure(ctx) -> list[Row]`; the rows carry the measure, its
value, the goal and whether the goal was met, plus details for the JSON file.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from taskcode.config import environment_variables  # noqa: E402 - this checkout, put on the path above

# Nothing of the developer's own environment may leak into a benchmark (their LOG_LEVEL may).
for _name in environment_variables():
    if _name != "LOG_LEVEL":
        os.environ.pop(_name, None)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("LOG_LEVEL", "WARNING")

# The class deployment of the issue: 20 people x 5,000 liked songs.
CLASS_PEOPLE, CLASS_TRACKS = 20, 5000


@dataclass
class Row:
    """One line of the table: a measure, its value, its goal, and whether it was met."""

    topic: str
    measure: str
    value: float | None
    unit: str = ""
    goal: str = ""
    met: bool | None = None  # None: no goal (a figure reported for context)
    details: dict = field(default_factory=dict)
    text: str = ""  # shown instead of the value when set

    def shown_value(self) -> str:
        if self.text:
            return self.text
        if self.value is None:
            return "-"
        if self.unit == "x":
            return f"{self.value:.2f}x"
        if self.unit == "ratio":
            return f"{self.value:.2f}"
        if self.unit == "s":
            return f"{self.value:.1f} s" if self.value >= 1 else f"{self.value:.2f} s"
        if self.unit == "MB":
            return f"{self.value:,.0f} MB"
        if self.unit == "rows/s":
            return f"{self.value:,.0f} rows/s"
        return f"{self.value:g} {self.unit}".strip()

    def shown_met(self) -> str:
        return {True: "yes", False: "NO", None: ""}[self.met]


def print_rows(rows: list[Row], title: str | None = None) -> None:
    if title:
        print(title)
    table = [("measure", "value", "goal", "met?")] + [
        (row.measure, row.shown_value(), row.goal, row.shown_met()) for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for number, line in enumerate(table):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
        if number == 0:
            print("  " + "  ".join("-" * width for width in widths))


def markdown_table(rows: list[Row]) -> str:
    lines = ["| measure | value | goal | met? |", "|---|---|---|---|"]
    lines += [f"| {r.measure} | {r.shown_value()} | {r.goal} | {r.shown_met()} |" for r in rows]
    return "\n".join(lines)


def save(name: str, rows: list[Row], extra: dict | None = None) -> Path:
    """bench/results/NAME.json (git-ignored): the rows with their details, and the machine."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps({"machine": machine(), "rows": [asdict(r) for r in rows], **(extra or {})}, indent=2, default=str)
    )
    return path


# -- the machine ----------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) / 1024 / 1024
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "ram_gb": round(ram, 1) if ram else None,
        "python": platform.python_version(),
        "postgresql": postgres_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def postgres_version() -> str:
    from taskcode.localpg import find_program

    try:
        import re

        out = subprocess.run([find_program("postgres"), "--version"], capture_output=True, text=True).stdout
        found = re.search(r"\d+(\.\d+)+", out)
        return found.group(0) if found else out.strip()
    except Exception:  # noqa: BLE001 - only a label
        return "unknown"


def describe_machine(info: dict | None = None) -> str:
    info = info or machine()
    return (
        f"{info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, Python {info['python']}, "
        f"PostgreSQL {info['postgresql']}"
    )


# -- a throwaway PostgreSQL ------------------------------------------------------------


class Context:
    """One throwaway PostgreSQL cluster (the project's own LocalCluster) and a scratch folder.

    `run.py` shares one context between all benchmarks; a script run alone
    makes its own. Each benchmark asks for fresh databases by name.
    """

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="taskcode-bench-"))
        self.folder.chmod(0o755)  # as root, the cluster belongs to 'postgres', who must reach it
        self._cluster = None
        self._admin_url = None
        self._closers: list = []
        self.cache: dict = {}

    @property
    def admin_url(self) -> str:
        if self._admin_url is None:
            from taskcode.localpg import LocalCluster

            self._cluster = LocalCluster(self.folder / "pg", durable=False)
            (self.folder / "pg").mkdir(exist_ok=True)
            (self.folder / "pg").chmod(0o755)
            self._admin_url = self._cluster.ensure_running()
        return self._admin_url

    def database(self, name: str) -> str:
        """A fresh, empty (migrated) database; its URL."""
        import psycopg2

        from taskcode import db

        url = self._create(name)
        conn = psycopg2.connect(url)
        try:
            db.migrate(conn)
        finally:
            conn.close()
        return url

    def subfolder(self, name: str) -> Path:
        path = self.folder / name
        path.mkdir(exist_ok=True)
        path.chmod(0o755)
        return path

    def copy_database(self, source: str, name: str) -> str:
        """A copy of a filled database (CREATE DATABASE ... TEMPLATE, a file copy)."""
        return self._create(name, template=source)

    def _create(self, name: str, template: str | None = None) -> str:
        """Database `name`, dropped first if it exists; its URL."""
        import psycopg2

        admin = psycopg2.connect(self.admin_url)
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        finally:
            admin.close()
        return f"{self.admin_url.rsplit('/', 1)[0]}/{name}"

    def on_close(self, function) -> None:
        """Call `function` when the context closes (before the cluster stops), newest first."""
        self._closers.append(function)

    def close(self) -> None:
        while self._closers:
            with contextlib.suppress(Exception):
                self._closers.pop()()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Context:
        # Stopped with SIGTERM (kill, a CI timeout) the benchmark still stops its
        # PostgreSQL and removes its folder: SystemExit unwinds through __exit__.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- shared, expensive things --------------------------------------------------

    def class_library_path(self) -> Path:
        """The class library (20 x 5,000), generated once per context with the CLI; times it."""
        path = self.folder / "class-library.json"
        if not path.exists():
            started = time.perf_counter()
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "taskcode",
                    "sample-library",
                    "--people",
                    str(CLASS_PEOPLE),
                    "--tracks",
                    str(CLASS_TRACKS),
                    "-o",
                    str(path),
                ],
                cwd=ROOT,
                env=child_env({}),
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise RuntimeError(f"sample-library failed: {result.stderr.strip()[-500:]}")
            self.cache["sample_library_seconds"] = time.perf_counter() - started
            self.cache["sample_library_output"] = result.stdout.strip()
        return path


def config_file(folder: Path, text: str = "", *, catalog: Path | None = None) -> Path:
    """A config file for a benchmark: fast retries, a private data folder, optional catalog."""
    path = folder / "config.yml"
    body = textwrap.dedent(text)
    paths = f"paths:\n  data_dir: {folder / 'data'}\n" + (f"  catalog_csv: {catalog}\n" if catalog else "")
    path.write_text(paths + body)
    return path


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a child process: this checkout first on PYTHONPATH, plus `extra`."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return env


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """Set environment variables for the block (the project reads its settings from them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def next_night(conn, emulator) -> None:
    """An hour or more has passed: every access token has expired, at Spotify and in our stored copy.

    The stored copy matters: a client that thinks its token still lives tries it,
    gets 401 and refreshes, one wasted call per person that a real night (whose
    stored tokens really are old) would not make.
    """
    emulator.expire_access_tokens()
    with conn.cursor() as cur:
        cur.execute("UPDATE spotify_tokens SET token_info = jsonb_set(token_info, '{expires_at}', '0')")
    conn.commit()
    emulator.clear_requests()


def authorize_everyone(settings, conn, emulator) -> None:
    from taskcode.authorize import authorize

    for person in emulator.library.people:
        authorize(settings, conn, person.name, refresh_token=emulator.refresh_token(person.name))
    emulator.clear_requests()


# -- a stage as its own process -----------------------------------------------------------


@dataclass
class StageRun:
    seconds: float
    peak_rss_mb: float
    output: dict
    returncode: int
    stderr: str


def run_stage(code: str, env: dict[str, str], *, timeout: float = 900) -> StageRun:
    """Run Python `code` in a child process; wall time, its peak RSS (wait4) and its last JSON line.

    The peak RSS is the kernel's own high-water mark of the child (ru_maxrss
    from wait4, which covers that child and its waited-for descendants only).
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=ROOT,
            env=child_env(env),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    child.kill()
                    pid, status, usage = os.wait4(child.pid, 0)
                    break
                time.sleep(0.05)  # polls the child's exit; wait4 with a timeout does not exist
        except BaseException:  # Ctrl-C or SIGTERM of the benchmark: the stage goes with it
            child.kill()
            child.wait()
            raise
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            result = json.loads(line.split(" ", 1)[1])
            break
    return StageRun(seconds, usage.ru_maxrss / 1024, result, child.returncode, stderr)


def stage_failed(run: StageRun, what: str) -> RuntimeError:
    tail = "\n".join(run.stderr.strip().splitlines()[-15:])
    return RuntimeError(f"{what} failed (exit {run.returncode}):\n{tail}")


def main_for(name: str, measure) -> None:
    """The `if __name__ == "__main__"` of a benchmark script run alone."""
    import argparse

    script = sys.modules["__main__"]
    argparse.ArgumentParser(
        description=(script.__doc__ or name).strip().splitlines()[0],
        epilog="Takes no options; `make bench` runs every benchmark.",
    ).parse_args()
    started = time.perf_counter()
    print(f"machine: {describe_machine()}")
    with Context() as ctx:
        rows = measure(ctx)
    print_rows(rows, f"{name} ({time.perf_counter() - started:.0f} s):")
    print(f"details: {save(name, rows)}")
