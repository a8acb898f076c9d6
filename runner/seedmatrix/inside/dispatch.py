"""Which instruction set oneDNN (TensorFlow's CPU kernels) uses here, as oneDNN itself says it.

Run by seedmatrix once per environment, with the environment's CPU switches set; prints one JSON
object. oneDNN names its ISA only in verbose mode, which would mix into a script's output, so a
child process runs one small matrix product with ONEDNN_VERBOSE=1 and this reads its header. No
header means oneDNN did not run (TensorFlow's oneDNN optimisations off, or no oneDNN at all).
"""

import json
import os
import re
import subprocess
import sys

PRODUCT = "import tensorflow as tf\nx = tf.ones((64, 64))\n(x @ x).numpy()\n"
# "onednn_verbose,info,cpu,isa:Intel AVX2" (oneDNN 3.5); "onednn_verbose,v1,info,…" from 3.7 on
HEADER = re.compile(
    r"^(?:onednn|dnnl)_verbose,(?:v\d+,)?info,(?:cpu,isa:(?P<isa>.*)|oneDNN (?P<version>v\S+))"
)

child = subprocess.run(
    [sys.executable, "-c", PRODUCT],
    env={**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"},
    capture_output=True,
    text=True,
    timeout=600,
    check=False,
)
found = {"onednn_isa": None, "onednn_version": None}
for line in child.stdout.splitlines():
    match = HEADER.match(line)
    if match:
        found["onednn_isa"] = found["onednn_isa"] or match.group("isa")
        found["onednn_version"] = found["onednn_version"] or match.group("version")
if child.returncode != 0:
    tail = child.stderr.strip().splitlines()[-1:] or ["no output"]
    found["error"] = f"the oneDNN probe exited {child.returncode}: {tail[0]}"
print(json.dumps(found))
