"""Never finishes: the runner must kill it at the time limit and report a timeout."""

import time

print("hanging now", flush=True)
time.sleep(3600)
