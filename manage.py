#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Management commands (migrations, seeding, rebuilds, closes, the worker)
    # run long on purpose: the web's database time limits are for requests.
    # runserver serves requests, so it keeps them. DB_SESSION_LIMITS=1 in the
    # environment puts them back for a command.
    if sys.argv[1:2] != ["runserver"]:
        os.environ.setdefault("DB_SESSION_LIMITS", "0")
    # The worker's task bookkeeping commits without waiting for the WAL
    # flush (config/settings.py says why that is safe); DB_SYNCHRONOUS_COMMIT=1
    # in the environment turns it back on.
    if sys.argv[1:2] == ["db_worker"]:
        os.environ.setdefault("DB_SYNCHRONOUS_COMMIT", "0")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
