import sys

from docre.cli import main

sys.exit(main())
