import sys

from core.jobs.supervisor.main import main

sys.exit(main())
