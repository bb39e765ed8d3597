"""``python -m ecocompress.cli``: the same as the ``ecocompress`` command."""

import sys

from ecocompress.cli import main

if __name__ == "__main__":  # importing the module (pkgutil.walk_packages does) runs nothing
    sys.exit(main())
