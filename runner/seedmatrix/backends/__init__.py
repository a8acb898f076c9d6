"""Where environments are made ready and their repeats run: Docker images and containers
(`docker/`) or interpreters on this machine (`host/`)."""
