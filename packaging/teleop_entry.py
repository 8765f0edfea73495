"""PyInstaller entry point: the bundled app's ``teleop`` binary.

A bundle has no ``python -m``, so ``teleop --demo`` starts its bundled server as
``teleop --run-server ...``: that dispatch lives here, so the desktop app itself
never imports the server (an import contract in pyproject.toml keeps them apart).
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--run-server"]:
        from teleop_server.cli import main as server_main

        sys.exit(server_main(sys.argv[2:]))
    from teleop.desktop.app import main

    sys.exit(main())
