"""Run realtime-dash with eventlet: ``python wsgi.py`` (settings from DASH_* variables)."""
import warnings

# eventlet warns that it is deprecated on import; that one warning is known, others still show.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
import eventlet

eventlet.monkey_patch()

from app import create_app, tune_gc
from app.live.transport import serve
from app.web.headers import fixed_headers

try:
    app = create_app({"ASYNC_MODE": "eventlet"})
except RuntimeError as exc:  # a setting or another process in the way: the message says
    raise SystemExit(f"realtime-dash cannot start: {exc}") from None
tune_gc()  # after start-up, so everything loaded so far is frozen out of collections

if __name__ == "__main__":
    # eventlet's WSGI server on a port of its own, with timeouts and a minimum pace, strict
    # body framing, a pool no client fills, and WebSockets that leave their HTTP request
    # (see app.live.transport)
    serve(app, app.config, fixed_headers(app.config["FRAME_ANCESTORS"]))
