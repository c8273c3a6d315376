import sys

from taskcode.cli import main

sys.exit(main())
