import sys

from vsphere_dr.app.cli import main

sys.exit(main())
