"""Deployment: the nginx configuration (template and generator) and redis.conf of cluster mode."""
