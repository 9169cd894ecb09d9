"""A real OpenSSH SFTP server on 127.0.0.1 for the SFTP connector tests.

Debian's ``openssh-server`` (``.ci/run`` installs it) is started on a free port with a temporary
host key and a temporary user key; the test user logs in with the key and sees the real
filesystem. Missing sshd skips the tests (fails them under CI=true).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


@dataclass
class SftpServer:
    port: int
    host_key: str
    user_key: Path
    user: str

    def spec(self, folder: Path, **overrides) -> dict:
        return {
            "type": "sftp",
            "host": "127.0.0.1",
            "port": self.port,
            "username": self.user,
            "private_key_path": str(self.user_key),
            "host_key": self.host_key,
            "path": str(folder),
            **overrides,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sshd(folder: Path) -> tuple[subprocess.Popen, SftpServer]:
    """Start sshd in the foreground (killed by the caller); returns it and how to reach it."""
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        raise FileNotFoundError(f"{SSHD} or ssh-keygen is not installed (apt-get install openssh-server)")
    for key in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True)
    (folder / "authorized_keys").write_text((folder / "user.pub").read_text())
    os.chmod(folder / "authorized_keys", 0o600)
    Path("/run/sshd").mkdir(exist_ok=True)
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {folder / 'host'}",
                f"PidFile {folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=open(folder / "sshd.log", "w")
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text()}")
        time.sleep(0.05)
    host_key = " ".join((folder / "host.pub").read_text().split()[:2])
    user = os.environ.get("USER") or __import__("getpass").getuser()
    return process, SftpServer(port, host_key, folder / "user", user)
