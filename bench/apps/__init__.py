"""ASGI apps served by the benchmark harness (``bench/run.py``).

Each module exposes ``app``. The raw ASGI apps (``raw``, ``ws_echo``) import nothing but
the standard library, so every server is measured doing the same work; the framework
apps (``fw_*``, ``static_*``, ``upload_*``) do the same job in each framework.
"""
