import sys

from mercator.demo.cli import main

sys.exit(main(["demo", *sys.argv[1:]]) if sys.argv[1:2] != ["demo"] else main())
