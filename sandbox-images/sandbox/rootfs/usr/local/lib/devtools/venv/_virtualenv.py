"""Patches that are applied at runtime to the virtual environment."""
# Why this exists (issue 16): site runs the venv's .pth files in name order before
# sitecustomize, so a package's own .pth payload would run before the audit hook that
# Debian's sitecustomize loads. virtualenv's own pair (_virtualenv.pth, `import
# _virtualenv`) sorts before the usual names and loads the hook first, under a name every
# virtualenv-made environment has. install-py copies both into the venv.
try:
    import apport_python_hook as _hook

    _hook.install()
    del _hook
except Exception:  # noqa: BLE001 - never fail interpreter start-up
    pass
