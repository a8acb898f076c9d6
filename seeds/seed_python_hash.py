"""Python: the iteration order of a set of strings depends on string hashing.

String hashes are salted per process unless PYTHONHASHSEED is fixed, so the same program can
print another order on every run. Two cases run this script: one as is, one with PYTHONHASHSEED=0.
"""

import os

from recording import show

fruits = {"apple", "banana", "cherry", "date", "elderberry", "fig", "grape", "kiwi"}
print("PYTHONHASHSEED =", os.environ.get("PYTHONHASHSEED", "(not set)"))
show("set order", list(fruits))
