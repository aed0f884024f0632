"""The reference ASGI service: see ``app.py``."""
