"""Layer 15, the demos: the evening-peak feeder (``demo.feeder``), the battery behind a firmware
bridge (``demo.bridge``) and the two-site hierarchy (``demo.hierarchy``).
"""
