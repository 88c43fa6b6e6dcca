"""The upload-only, memory-only file system and the one-user authorizer of the FTP receiver."""

from __future__ import annotations

import errno
import hmac
import itertools
import os
import stat

from pyftpdlib.authorizers import AuthenticationFailed
from pyftpdlib.exceptions import FilesystemError
from pyftpdlib.filesystems import AbstractedFS

#: Permissions of the push user (pyftpdlib letters): e = change directory, l = list,
#: m = make directory, w = store. No r (download), a (append), d (delete), f (rename).
UPLOAD_PERMS = "elmw"

#: Delay before answering a wrong password (slows down guessing; the inverter never needs it).
AUTH_FAILED_DELAY_S = 1.0

_DIR_STAT = os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 2, 0, 0, 0, 0, 0, 0))


class UploadTooLarge(OSError):
    """An upload went over max_upload_bytes."""


class UploadBuffer:
    """The file object an upload is written into: memory only, with a size limit."""

    def __init__(self, name: str, max_bytes: int) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.closed = False
        self.too_large = False
        self._chunks: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        if self.size + len(data) > self.max_bytes:
            self.too_large = True
            self._chunks.clear()
            raise UploadTooLarge(errno.EFBIG, f"upload larger than {self.max_bytes} bytes")
        self._chunks.append(bytes(data))
        self.size += len(data)
        return len(data)

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)

    def close(self) -> None:
        self.closed = True


class MemoryFS(AbstractedFS):
    """A virtual tree rooted at "/": every directory exists and is empty; files only go in."""

    def validpath(self, path):
        # ftpnorm() already collapses "..", so every normalised path is inside the root.
        return path.startswith("/")

    def realpath(self, path):
        return path

    def open(self, filename, mode):
        if "w" not in mode:
            raise FilesystemError("Only uploads are possible here.")
        return self.cmd_channel.new_upload(filename)

    def mkstemp(self, suffix="", prefix="", dir=None, mode="wb"):
        name = f"{dir or '/'}/{prefix}upload-{next(_unique)}{suffix}".replace("//", "/")
        return self.cmd_channel.new_upload(name)

    def chdir(self, path):
        self.cwd = path

    def mkdir(self, path):
        pass  # every directory already exists

    def listdir(self, path):
        return []

    def listdirinfo(self, path):
        return []

    def _refuse(self, *args, **kwargs):
        raise FilesystemError("Not possible on this server: it only accepts uploads.")

    rmdir = remove = rename = chmod = utime = readlink = getsize = getmtime = _refuse

    def stat(self, path):
        return _DIR_STAT

    lstat = stat

    def isfile(self, path):
        return False

    def islink(self, path):
        return False

    def isdir(self, path):
        return True

    def lexists(self, path):
        return True


_unique = itertools.count(1)


class OneUserAuthorizer:
    """One user, compared in constant time; no anonymous access."""

    def __init__(self, user: str, password: str) -> None:
        self._user = user.encode()
        self._password = password.encode()

    def validate_authentication(self, username, password, handler):
        user_ok = hmac.compare_digest(username.encode(), self._user)
        password_ok = hmac.compare_digest(password.encode(), self._password)
        if not (user_ok and password_ok):
            raise AuthenticationFailed("Authentication failed.")

    def get_home_dir(self, username):
        return "/"

    def has_user(self, username):
        return username.encode() == self._user

    def has_perm(self, username, perm, path=None):
        return perm in UPLOAD_PERMS

    def get_perms(self, username):
        return UPLOAD_PERMS

    def get_msg_login(self, username):
        return "Logged in; uploads only."

    def get_msg_quit(self, username):
        return "Goodbye."

    def impersonate_user(self, username, password):
        pass

    def terminate_impersonation(self, username):
        pass
