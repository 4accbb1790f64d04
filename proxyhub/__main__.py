"""``python -m proxyhub ...`` runs the command line (see :mod:`proxyhub.cli`)."""

import sys

from proxyhub.cli import main

if __name__ == "__main__":
    sys.exit(main())
