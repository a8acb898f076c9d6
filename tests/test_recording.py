"""The seed scripts' recording helper and the runner's parser agree on every bit."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

from seedmatrix import execute
from seedmatrix.execute import MARKER, parse_output

INSIDE = Path(execute.__file__).parent / "inside"
PROGRAM = """
import numpy as np
from recording import show
show("py", 0.1)
show("list", [1.5, -0.0])
show("f32", np.array([0.1, -2.5], dtype=np.float32))
show("scalar32", np.float32(1) / np.float32(3))

class EagerTensor:  # what TensorFlow's eager ops return: values through .numpy()
    dtype = "tf.float32"
    def numpy(self):
        return np.array([0.5, 0.25], dtype=np.float32)

show("eager", EagerTensor())
"""


def run_helper(records: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(INSIDE)}
    env.pop("SEEDMATRIX_RECORDS", None)
    if records:
        env["SEEDMATRIX_RECORDS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, check=True
    )


def test_people_see_plain_lines_without_the_variable() -> None:
    output = run_helper(records=False).stdout
    assert MARKER not in output
    assert output.splitlines()[0] == "py: 0.1"


def test_records_carry_exact_bits_and_the_device() -> None:
    parsed = parse_output(run_helper(records=True).stdout)
    assert parsed.problems == ()
    by_label = {value.label: value for value in parsed.values}
    assert by_label["py"].bits == (struct.pack(">d", 0.1).hex(),)
    assert by_label["list"].dtype == "float64"
    assert by_label["list"].bits[1] == "8000000000000000"  # -0.0 keeps its sign
    f32 = by_label["f32"]
    assert (f32.dtype, f32.shape) == ("float32", (2,))
    assert f32.bits == (struct.pack(">f", 0.1).hex(), struct.pack(">f", -2.5).hex())
    assert by_label["scalar32"].shape == ()
    assert (by_label["eager"].dtype, by_label["eager"].values) == ("float32", (0.5, 0.25))
    assert parsed.device["kind"] == "CPU"
    assert parsed.text.splitlines()[0] == "py: 0.1"
    assert MARKER not in parsed.text


def test_parse_output_reports_unreadable_records() -> None:
    parsed = parse_output(f'hello\n{MARKER}{{not json\n{MARKER}{{"label": 1}}\n')
    assert parsed.values == ()
    assert len(parsed.problems) == 2
    assert parsed.problems[0].startswith("line 2: unreadable record")
    assert parsed.text == "hello"
