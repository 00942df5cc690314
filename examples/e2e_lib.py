"""What the examples' end-to-end tests share: a real gateway started from an example's own
config, tokens minted by `syncgate token`, HTTP calls, and checks that count what they saw.

Standard library only. Each `examples/<seed>/e2e.py` imports it; `scripts/examples-check` runs
them (on SQLite, and on PostgreSQL when SGTEST_POSTGRES_URL is set).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The binary under test (E2E_SYNCGATE_BIN; SYNCGATE_BIN is accepted too). Not passed on to the
# gateway: every SYNCGATE_* variable is a config key there.
BIN = os.environ.get("E2E_SYNCGATE_BIN") or os.environ.get(
    "SYNCGATE_BIN", str(ROOT / "target" / "debug" / "syncgate")
)
POSTGRES_ADMIN_URL = os.environ.get("SGTEST_POSTGRES_URL")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backends():
    """`sqlite` always; `postgres` too when the test command started a PostgreSQL server."""
    return ["sqlite", "postgres"] if POSTGRES_ADMIN_URL else ["sqlite"]


def psql():
    """The `psql` of the test command's PostgreSQL."""
    found = shutil.which("psql") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))), None
    )
    if found is None:
        raise SystemExit("psql not found (Debian package postgresql-client)")
    return str(found)


def postgres_database():
    """A new empty database on the test command's PostgreSQL server; returns its URL."""
    name = "e2e_" + uuid.uuid4().hex
    subprocess.run(
        [psql(), POSTGRES_ADMIN_URL, "-q", "-c", f"CREATE DATABASE {name}"],
        check=True,
    )
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"{self.status} {self.body[:400]!r}"


class Gateway:
    """One `syncgate serve` process running `examples/<seed>/config.toml`, with its database
    (a fresh SQLite file, or `database_url`), its files directory and its port replaced by
    environment variables so that the example's own directory is left untouched."""

    def __init__(self, example_dir, backend="sqlite", env=None, name="gateway"):
        self.example_dir = Path(example_dir)
        self.config = self.example_dir / "config.toml"
        self.name = name
        self.work = Path(tempfile.mkdtemp(prefix=f"syncgate-e2e-{name}-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        database_url = (
            postgres_database()
            if backend == "postgres"
            else f"sqlite://{self.work / 'syncgate.db'}"
        )
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("SYNCGATE_") and name != "RUST_LOG"
        }
        self.env.update(
            {
                "SYNCGATE_DATABASE__URL": database_url,
                "SYNCGATE_FILES__DIR": str(self.work / "files"),
                "SYNCGATE_PLUGINS__WATCH": "false",
            }
        )
        self.env.update(env or {})
        self.process = None

    def start(self):
        log = open(self.work / "log", "ab")
        self.process = subprocess.Popen(
            [BIN, "serve", "--config", str(self.config), "--listen", f"127.0.0.1:{self.port}"],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} stopped at start:\n{self.log()}")
            try:
                if self.call("GET", "/ready").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{self.name} was not ready within 30 s:\n{self.log()}")

    def stop(self, kill=False):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None

    def close(self):
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def sql(self, statement):
        """Runs one SQL statement on the gateway's database, as another program would: for a
        check that needs a state no request can make (a device last seen hours ago)."""
        url = self.env["SYNCGATE_DATABASE__URL"]
        if url.startswith("sqlite://"):
            import sqlite3

            with sqlite3.connect(url.removeprefix("sqlite://")) as db:
                db.execute(statement)
            return
        subprocess.run([psql(), url, "-q", "-c", statement], check=True)

    def log(self):
        try:
            return (self.work / "log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def token(self, sub, role, branch=None, **claims):
        """A JWT signed with the example's `auth.jwt_secret`."""
        args = [BIN, "token", "--config", str(self.config), "--sub", sub, "--role", role]
        if branch is not None:
            args += ["--branch", str(branch)]
        for name, value in claims.items():
            args += ["--claim", f"{name}={value}"]
        return subprocess.run(
            args, env=self.env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def call(self, method, path, token=None, body=None, headers=None, data=None):
        """One HTTP request; `body` is sent as JSON, `data` as raw bytes."""
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())


def drive(example_dir, backend, checks, flows, env=None, name="gateway"):
    """Starts a gateway on the example's config, runs `flows(gateway, checks)`, and stops the
    gateway whatever happens."""
    gateway = Gateway(example_dir, backend, env=env, name=name).start()
    try:
        flows(gateway, checks)
    finally:
        gateway.close()


class Checks:
    """Counts checks; the first one that fails stops the test with what it saw."""

    def __init__(self, example):
        self.example = example
        self.passed = 0
        self.flow = ""

    def section(self, flow):
        self.flow = flow
        print(f"  {flow}", flush=True)

    def that(self, condition, what, seen=None):
        if not condition:
            detail = f"\n    saw: {seen!r}" if seen is not None else ""
            raise SystemExit(f"FAILED [{self.example}] {self.flow}: {what}{detail}")
        self.passed += 1

    def status(self, response, expected, what):
        self.that(response.status == expected, f"{what}: expected {expected}", response)
        return response.json

    def error(self, response, status, code, what):
        """An error answer: its status and its stable code."""
        self.status(response, status, what)
        body = response.json or {}
        self.that(
            body.get("error", {}).get("code") == code,
            f"{what}: error code {code}",
            response,
        )
        return body["error"]

    def done(self):
        print(f"[{self.example}] {self.passed} checks passed", flush=True)


def run(example, scenario):
    """Runs `scenario(backend, checks)` on every backend."""
    for backend in backends():
        print(f"[{example}] on {backend}", flush=True)
        checks = Checks(f"{example}/{backend}")
        scenario(backend, checks)
        checks.done()
    sys.exit(0)
