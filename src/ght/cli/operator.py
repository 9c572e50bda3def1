"""Who runs a command, as the access trace names them: the command line has no login, so the
operating-system account (the DSI's operator) stands for the person."""

from __future__ import annotations

import getpass


def operator() -> str:
    return f"cli:{getpass.getuser()}"
