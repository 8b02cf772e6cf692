"""Run realtime-dash with eventlet: ``python wsgi.py`` (settings from DASH_* variables)."""
import warnings

# eventlet warns that it is deprecated on import; that one warning is known, others still show.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
import eventlet

eventlet.monkey_patch()

from app import create_app, tune_gc
from app.live.transport import serve

app = create_app({"ASYNC_MODE": "eventlet"})
tune_gc()  # after start-up, so everything loaded so far is frozen out of collections

if __name__ == "__main__":
    # eventlet's WSGI server with a header timeout, strict body framing, a sized pool and
    # WebSockets that leave their HTTP request (see app.live.transport)
    serve(app, app.config)
