"""The host backend: interpreters on this machine, probed and run as they are, one process a repeat."""
