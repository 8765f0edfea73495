"""PyInstaller entry point: the bundled app's ``teleop`` binary (also runs the server for --demo)."""

import sys

from teleop.app import main

if __name__ == "__main__":
    sys.exit(main())
