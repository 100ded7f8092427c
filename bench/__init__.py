"""The ``make bench`` harness: asgi_magic against its peers, one run, one table."""
