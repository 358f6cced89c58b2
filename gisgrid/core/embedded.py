"""The embedded PostGIS cluster: gisgrid's own PostgreSQL 15 + PostGIS 3 in a data folder.

``initdb`` refuses to run as root, so as root the server runs as an unprivileged OS user
(``postgres`` when Debian's package created it, otherwise a ``gisgrid`` system user).
The cluster listens on 127.0.0.1 on a free port (password auth) and on a private socket
directory (trust, reachable only by the owner). Everything is idempotent.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gisgrid.core.errors import SetupError

DEBIAN_PACKAGE = "postgresql-15-postgis-3"
PG_MAJOR = "15"
DB_NAME = "gisgrid"
DB_USER = "gisgrid"
APP_ROLE = "gisgrid_app"  # made by migration 0013: the HTTP app's login, not the owner
FALLBACK_ROOT = Path("/var/lib/gisgrid")

CONF = """
# --- gisgrid embedded cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 1GB
max_wal_size = 8GB
checkpoint_timeout = 15min
jit = off
random_page_cost = 1.1
effective_cache_size = 4GB
timezone = 'Asia/Shanghai'
log_timezone = 'Asia/Shanghai'
"""


@dataclass(frozen=True)
class Binaries:
    bindir: Path

    def __getitem__(self, name: str) -> str:
        return str(self.bindir / name)


def find_binaries() -> Binaries:
    """PostgreSQL 15 binaries with the PostGIS extension installed, or a SetupError saying what to install.

    ``GISGRID_PG_BINDIR`` names the folder for installs outside Debian's layout.
    """
    configured = os.environ.get("GISGRID_PG_BINDIR")
    candidates = [Path(configured)] if configured else [Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
    pg_config = None if configured else shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    for bindir in candidates:
        if not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
            continue
        sharedir = subprocess.run(
            [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True
        ).stdout.strip() or f"/usr/share/postgresql/{PG_MAJOR}"
        if (Path(sharedir) / "extension" / "postgis.control").exists():
            return Binaries(bindir)
        raise SetupError(
            f"PostgreSQL found in {bindir} but the PostGIS extension is missing: "
            f"install it with `sudo apt-get install {DEBIAN_PACKAGE}`"
        )
    raise SetupError(
        f"PostgreSQL {PG_MAJOR} with PostGIS 3 is not installed: "
        f"install it with `sudo apt-get install {DEBIAN_PACKAGE}`"
    )


def _service_user() -> pwd.struct_passwd | None:
    """The OS user the server runs as: None means 'the current user' (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "gisgrid"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "gisgrid"],
        check=True,
    )
    return pwd.getpwnam("gisgrid")


def _can_traverse(path: Path, user: pwd.struct_passwd) -> bool:
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


class Cluster:
    """One embedded cluster rooted at ``home``."""

    def __init__(self, home: Path):
        self.requested_home = home
        self.user = _service_user()
        self.home = self._placed_home(home)
        self.data_dir = self.home / "pgdata"
        self.socket_dir = self.home / "run"
        self.log_dir = self.home / "log"
        self.state_file = self.home / "cluster.json"

    def _placed_home(self, home: Path) -> Path:
        """As root, a home the service user cannot reach (say under /root) moves to /var/lib/gisgrid."""
        home = home.expanduser().resolve()
        if self.user is None or _can_traverse(home.parent, self.user):
            return home
        digest = hashlib.sha1(str(home).encode()).hexdigest()[:12]
        return FALLBACK_ROOT / f"{home.name.lstrip('.') or 'home'}-{digest}"

    # --- state -------------------------------------------------------------------------------
    def _state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {}

    def _save_state(self, state: dict) -> None:
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.state_file.exists()

    def url(self, database: str = DB_NAME, role: str = DB_USER) -> str:
        """The owner's URL, or with ``role=APP_ROLE`` the application's."""
        state = self._state()
        if not state:
            raise SetupError(f"no embedded cluster in {self.home}: run `gisgrid db up` first")
        password = state["password"] if role == DB_USER else state.get("app_password")
        if role not in (DB_USER, APP_ROLE) or password is None:
            raise SetupError(f"role {role} has no login in {self.home}: run `gisgrid db up` first")
        return f"postgresql+psycopg://{role}:{password}@127.0.0.1:{state['port']}/{database}"

    # --- processes ---------------------------------------------------------------------------
    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        kwargs: dict = {"capture_output": True, "text": True, "cwd": str(self.home)}
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
            kwargs["env"] = {**os.environ, "HOME": str(self.home), "USER": self.user.pw_name}
        proc = subprocess.run(args, **kwargs)
        if check and proc.returncode != 0:
            raise SetupError(
                f"`{Path(args[0]).name}` failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        return proc

    def _own(self, *paths: Path) -> None:
        if self.user is not None:
            for path in paths:
                os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        bins = find_binaries()
        return self._run([bins["pg_ctl"], "status", "-D", str(self.data_dir)], check=False).returncode == 0

    def init(self) -> None:
        bins = find_binaries()
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o711)
        for folder in (self.data_dir, self.socket_dir, self.log_dir):
            folder.mkdir(exist_ok=True)
            folder.chmod(0o700)
            self._own(folder)
        password = secrets.token_urlsafe(24)
        pwfile = self.log_dir / "initdb.pw"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        self._own(pwfile)
        try:
            self._run([
                bins["initdb"], "-D", str(self.data_dir), "-U", DB_USER, "--pwfile", str(pwfile),
                "-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(CONF.format(socket_dir=self.socket_dir))
        self._save_state({"port": _free_port(), "password": password})

    def up(self) -> str:
        """Initialise if needed, start if stopped, make sure the database and PostGIS exist."""
        if not self.initialised:
            if (self.data_dir / "PG_VERSION").exists():
                raise SetupError(f"{self.data_dir} holds a cluster gisgrid did not make; move it away")
            self.init()
            message = f"initialised a new cluster in {self.home}"
        else:
            message = f"cluster in {self.home}"
        if self.running():
            message += " is already running"
        else:
            state = self._state()
            if not _port_free(state["port"]):
                state["port"] = _free_port()
                self._save_state(state)
            bins = find_binaries()
            self._run([
                bins["pg_ctl"], "start", "-D", str(self.data_dir), "-w", "-t", "120",
                "-l", str(self.log_dir / "postgres.log"), "-o", f"-p {state['port']}",
            ])
            message += f" started on 127.0.0.1:{state['port']}"
        self._ensure_database()
        return message

    def _ensure_database(self) -> None:
        import psycopg

        state = self._state()
        params = dict(host="127.0.0.1", port=state["port"], user=DB_USER, password=state["password"])
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        with psycopg.connect(dbname=DB_NAME, autocommit=True, **params) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    def allow_app_login(self) -> None:
        """Give the application role (made by migration 0013, so call this after migrating) a
        login with a password of its own, kept in the state file beside the owner's."""
        import psycopg
        from psycopg import sql

        state = self._state()
        if "app_password" not in state:
            state["app_password"] = secrets.token_urlsafe(24)
            self._save_state(state)
        params = dict(host="127.0.0.1", port=state["port"], user=DB_USER, password=state["password"])
        with psycopg.connect(dbname=DB_NAME, autocommit=True, **params) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(state["app_password"])))

    def down(self) -> str:
        if not self.running():
            return f"cluster in {self.home} is not running"
        bins = find_binaries()
        self._run([bins["pg_ctl"], "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
        return f"cluster in {self.home} stopped"

    def status(self) -> dict:
        state = self._state()
        return {
            "mode": "embedded",
            "home": str(self.home),
            "initialised": self.initialised,
            "running": self.running() if self.initialised else False,
            "port": state.get("port"),
            "socket_dir": str(self.socket_dir),
            "runs_as": self.user.pw_name if self.user else pwd.getpwuid(os.geteuid()).pw_name,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
