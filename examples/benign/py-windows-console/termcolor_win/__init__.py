"""Coloured terminal output, Windows included."""
import os
import subprocess
import sys

__all__ = ["enable", "colored", "windows_version"]


def enable():
    """Turns on ANSI escape handling on Windows consoles."""
    if os.name == "nt":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.GetStdHandle(-11)
        kernel32.SetConsoleMode(handle, 7)
        return True
    return False


def windows_version():
    if sys.platform != "win32":
        return None
    out = subprocess.run(["cmd", "/c", "ver"], capture_output=True, text=True)
    return out.stdout.strip()


def settings():
    if sys.platform != "win32":
        return {}
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, r"Software\termcolor-win") as k:
            return {"theme": winreg.QueryValueEx(k, "theme")[0]}
    except OSError:
        return {}


def colored(text, color="red"):
    codes = {"red": 31, "green": 32}
    return "\x1b[%dm%s\x1b[0m" % (codes.get(color, 39), text)
