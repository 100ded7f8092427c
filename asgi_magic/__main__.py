"""``python -m asgi_magic module:app`` is the ``asgi-magic`` command."""

from asgi_magic.cli import main

if __name__ == "__main__":
    main()
