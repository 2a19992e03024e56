"""`python -m selfcorrect.report --out-dir DIR [--models A B …] METRICS.json …`."""

import sys

from selfcorrect.report.build import main

sys.exit(main())
