"""Allocates far more than its memory limit: the kernel kills it and the runner must say so."""

blocks = []
while True:
    blocks.append(bytearray(32 << 20))
