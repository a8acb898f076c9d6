"""Records one value, then crashes: the cell must say "error" with the tail of stderr."""

from recording import show

show("before the crash", 1.5)
raise ValueError("this seed script crashed on purpose")
