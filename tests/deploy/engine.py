"""A private Docker engine for the deployment test.

Debian's `dockerd` runs as an ordinary background process with its own socket,
data root and exec root, without iptables or the default bridge (containers
use compose's own network), so it touches nothing else on the machine and
leaves nothing behind once stopped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path


class Engine:
    def __init__(self, root: Path):
        self.root = root
        self.data_root = root / "data"
        self.socket = root / "docker.sock"
        self.process: subprocess.Popen | None = None
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}
        tools = Path(os.environ.get("TASTE_DEPLOY_TOOLS", Path.home() / ".cache" / "whose-song" / "docker"))
        if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
            self.env["DOCKER_CONFIG"] = str(tools)  # the compose plugin scripts/deploy/ensure-docker.sh put there
        self.builder = _builder(self.env)

    def start(self, seconds: float = 120) -> Engine:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "dockerd.log", "ab") as log:  # dockerd keeps its own copy
            self.process = subprocess.Popen(
                [
                    "dockerd",
                    "--host",
                    f"unix://{self.socket}",
                    "--data-root",
                    str(self.data_root),
                    "--exec-root",
                    str(self.root / "exec"),
                    "--pidfile",
                    str(self.root / "docker.pid"),
                    "--iptables=false",
                    "--ip6tables=false",
                    "--bridge=none",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + seconds
        while self.docker("version", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start; see {self.root / 'dockerd.log'}:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def docker(
        self, *args: str, check: bool = True, timeout: float = 600, cli: str = "docker", **kwargs
    ) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        result = subprocess.run(
            [cli, *args],
            env=kwargs.pop("env", self.env),
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
            **kwargs,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{cli} {' '.join(args)} exited with {result.returncode}:\n"
                f"{(result.stderr or '')[-4000:]}{(result.stdout or '')[-4000:]}"
            )
        return result

    def build(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """`docker build` with BuildKit (build secrets, `RUN --mount`)."""
        cli, env = self.builder
        return self.docker("build", *args, cli=cli, env=env, **kwargs)

    def stop(self, seconds: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def leftovers(self) -> list[str]:
        """Processes and mounts that still belong to this engine."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(self.root) in cmdline:
                found.append(f"process {pid}: {cmdline.strip()}")
        for line in Path("/proc/mounts").read_text().splitlines():
            if str(self.root) in line:
                found.append(f"mount: {line}")
        return found

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        path = self.root / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _builder(env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The docker CLI that builds with BuildKit here: buildx where it is installed,
    else Debian's docker.io CLI, whose BuildKit client is built in."""
    if subprocess.run(["docker", "buildx", "version"], env=env, capture_output=True, check=False).returncode == 0:
        return "docker", env
    return "/usr/bin/docker", {**env, "DOCKER_BUILDKIT": "1"}
