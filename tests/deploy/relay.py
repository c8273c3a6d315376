"""Start a command that serves on 127.0.0.1:TARGET and relay 0.0.0.0:LISTEN to it.

The emulator listens on loopback only (as it should on a developer's machine);
in the deployment test the Airflow containers reach it over the compose network.

Usage: python relay.py LISTEN TARGET -- COMMAND...
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(client: socket.socket, target: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", target), timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
    _pipe(client, upstream)


def _wait_for(port: int, child: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            sys.exit(f"relay: {child.args[0]} exited with {child.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"relay: nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


def main(argv: list[str]) -> None:
    listen, target, dashdash, *command = argv
    assert dashdash == "--" and command, __doc__
    child = subprocess.Popen(command)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 in its container: `docker stop`
    _wait_for(int(target), child, 120)
    server = socket.create_server(("0.0.0.0", int(listen)))
    server.settimeout(1)  # to notice the command's end
    print(f"relay: 0.0.0.0:{listen} -> 127.0.0.1:{target}", flush=True)
    try:
        while child.poll() is None:
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            threading.Thread(target=_serve, args=(client, int(target)), daemon=True).start()
    finally:
        child.terminate()
    sys.exit(child.wait())


if __name__ == "__main__":
    main(sys.argv[1:])
