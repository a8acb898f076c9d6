"""The Docker backend: environment images (Debian bases, wheels, a registry), what they contain, and
the containers repeats and probes run in."""
