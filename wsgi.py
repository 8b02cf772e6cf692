"""Run realtime-dash with eventlet: ``python wsgi.py`` (settings from DASH_* variables)."""
import warnings

# eventlet warns that it is deprecated on import; that one warning is known, others still show.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
import eventlet

eventlet.monkey_patch()

from app import create_app, tune_gc
from app.live.transport import server_options

app = create_app({"ASYNC_MODE": "eventlet"})
tune_gc()  # after start-up, so everything loaded so far is frozen out of collections

if __name__ == "__main__":
    app.extensions["socketio"].run(app, host=app.config["HOST"], port=app.config["PORT"],
                                   log_output=app.config["DEBUG"],
                                   # header timeout, body framing, pool size; WebSockets
                                   # leave their HTTP request (see app.live.transport)
                                   **server_options(app.config))
