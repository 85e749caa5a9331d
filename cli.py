"""`python cli.py ...` from a checkout: the same as the installed ``lanmsff-edge`` console script.

The click layer itself is ``lanmsff_edge/cli.py``: setuptools can map a folder into the package (``calibration/``
and ``firmware_export/`` install as ``lanmsff_edge.calibration`` and ``lanmsff_edge.firmware_export``), but not a
single module, and a top-level module named ``cli`` would collide with any other distribution's ``cli``.
"""
from lanmsff_edge.cli import main

if __name__ == "__main__":
    main()
