"""`ght serve` as a real process: clean start-up errors, request logs, clean shutdown."""

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from support import free_port, wait_healthy


def start(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "ght", *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def test_serve_reports_taken_port_logs_requests_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {**os.environ, "GHT_DATABASE_URL": f"sqlite:///{tmp_path}/ght.db", "GHT_VAR_DIR": str(tmp_path / "var"),
           "GHT_HTTP_PORT": str(port)}
    server = start(["serve"], env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        assert "Connexion" in httpx.get(f"http://127.0.0.1:{port}/").text

        second = subprocess.run([sys.executable, "-m", "ght", "serve"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert f"le port HTTP {port} est déjà utilisé sur 127.0.0.1" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    # uvicorn finishes the requests in flight, runs the shutdown, then re-raises the signal
    # so that the exit status says "terminated by SIGTERM", which service managers treat as clean.
    assert server.returncode in (0, -signal.SIGTERM), stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events if e["event"] in {"started", "stopped"}] == ["started", "stopped"]
    requests = [e for e in events if e["event"] == "request"]
    assert requests and all(len(e["request_id"]) == 32 for e in requests)
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_serve_with_two_workers_shares_the_port_and_stops_both(tmp_path):
    port = free_port()
    env = {**os.environ, "GHT_DATABASE_URL": f"sqlite:///{tmp_path}/ght.db", "GHT_VAR_DIR": str(tmp_path / "var"),
           "GHT_HTTP_PORT": str(port)}
    server = start(["serve", "--workers", "2"], env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            while time.monotonic() < deadline:  # until the second worker has started too
                assert http.get("/health").status_code == 200
                if _children(server.pid) >= 2:
                    break
                time.sleep(0.1)
            assert all(http.get("/health").status_code == 200 for _ in range(20))
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    started = {e["pid"] for e in events if e["event"] == "started"}
    assert len(started) == 2 and server.pid not in started  # two worker processes, not the supervisor
    assert sum(e["event"] == "stopped" for e in events) == 2, stderr
    assert _children(server.pid) == 0


def _children(pid: int) -> int:
    """Live child processes of `pid` (Linux /proc)."""
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as fh:
            return len(fh.read().split())
    except FileNotFoundError:
        return 0
