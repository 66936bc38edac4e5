# Why this exists: when /opt/airlock/python is on PYTHONPATH, Python imports this file at
# start-up and the airlock audit hook (airlock_audit.py) gets installed. PYTHONPATH does
# not survive pip's build isolation (pip replaces it for the build backend, which is the
# process that runs setup.py), so the sandbox should prefer airlock-hook.pth dropped into
# the interpreter's and the venv's site-packages; this file is for plain interpreters.
try:
    import airlock_audit  # noqa: F401  (installs the hook on import)
except Exception:
    pass
