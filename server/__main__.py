import sys

from teleop_server.cli import main

sys.exit(main())
