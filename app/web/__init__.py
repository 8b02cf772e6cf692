"""The web edge: pages and fragments, the JSON API, Socket.IO handlers, error mapping."""
