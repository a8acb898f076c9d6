"""Takes a few seconds and records a stable value: for interruption and resume tests."""

import time

from recording import show

time.sleep(3)
show("value", 0.25)
