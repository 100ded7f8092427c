"""Small, real apps, one per feature of asgi_magic; ``showcase`` serves them all.

Run any one of them with the server, e.g.::

    asgi-magic sample_apps.todo_api:app --port 8000
    asgi-magic sample_apps.showcase:app --port 8000     # or: make run

Each module is meant to be read: it is the documentation of its feature.
"""
