"""`/_emulator/config`: the emulator's runtime settings, one JSON object shared by the patches.

  GET  /_emulator/config                      every setting, e.g. {"cfn_resource_delay_ms": 0, "iam": "enforce", …}
  POST /_emulator/config {"<setting>": value}  changes the settings named, leaves the others as they are

Each patch registers its settings with a default (usually read from an environment variable at start)
and a validator; `POST /moto-api/reset` restores every default.
"""
import json

VALUES = {}
_SETTINGS = {}  # name -> (default, validate, description)


def register(name, default, validate, description):
    _SETTINGS[name] = (default, validate, description)
    VALUES[name] = default


def reset():
    for name, (default, _, _) in _SETTINGS.items():
        VALUES[name] = default


def _usage():
    return {"error": "expected a JSON object of settings", "settings": {n: d for n, (_, _, d) in _SETTINGS.items()}}


def app(environ, start_response):
    from werkzeug.wrappers import Request, Response
    request = Request(environ)
    if request.method == "POST":
        try:
            changes = json.loads(request.get_data() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError
            validated = {}
            for name, value in changes.items():
                if name not in _SETTINGS:
                    raise ValueError
                validated[name] = _SETTINGS[name][1](value)
        except (ValueError, TypeError, AttributeError):
            return Response(json.dumps(_usage()), 400, mimetype="application/json")(environ, start_response)
        VALUES.update(validated)
    return Response(json.dumps(VALUES), 200, mimetype="application/json")(environ, start_response)
