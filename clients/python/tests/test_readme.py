"""The README's example runs as written (only its address is replaced by a live server's)
and prints what the README says it prints."""

import re
import subprocess
import sys
import unittest
from pathlib import Path

from support import Server

README = Path(__file__).resolve().parents[1] / "README.md"


class Readme(unittest.TestCase):
    def test_the_readme_example_prints_what_the_readme_says(self):
        text = README.read_text()
        example = re.search(r"```python\n(.*?)```", text, re.S).group(1)
        expected = re.search(r"prints[^\n]*\n\n```text\n(.*?)```", text, re.S).group(1)
        self.assertEqual(len(example.strip().splitlines()), 10, "the example is ten lines")
        self.assertIn('"tcp://127.0.0.1:7001"', example)
        server = Server("--listen", "tcp://127.0.0.1:0")
        try:
            code = example.replace("tcp://127.0.0.1:7001", server.tcp)
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        finally:
            server.stop()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, expected)


if __name__ == "__main__":
    unittest.main()
