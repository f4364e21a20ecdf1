import sys

from vsphere_dr.simulator.launcher import main

sys.exit(main())
