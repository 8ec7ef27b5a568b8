import sys

from sim.reporting.cli import main

sys.exit(main())
