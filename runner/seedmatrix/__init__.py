"""seedmatrix: is my seeding reproducible, and where does it break?"""

__version__ = "0.1.0"
