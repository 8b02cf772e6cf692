"""Browser tests: the real server in a subprocess, driven with Playwright."""
