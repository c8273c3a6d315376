"""`python -m emulator serve …` / `python -m emulator sample-library …`."""

import sys

from emulator.cli import main

sys.exit(main())
