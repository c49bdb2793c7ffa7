"""The README's `curl` examples, as a reader pastes them, and whether an answer is what the README shows.

    for example in curl_examples(README):
        example.command        # "curl -s localhost:8000/sentiment -d '{\"text\": \"I love this\"}'"
        example.output         # the lines under it, `...` standing for what the README leaves out
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

#: Where the README's examples reach `rayfleet local up` (Serve's default port).
LOCAL_SERVE = "localhost:8000"


@dataclass(frozen=True)
class CurlExample:
    command: str
    output: str

    @property
    def route(self) -> str:
        """`/sentiment` for an example sent to localhost:8000/sentiment; "" for one that is not local."""
        match = re.search(re.escape(LOCAL_SERVE) + r"(/[^\s'\"]*)", self.command)
        return match.group(1) if match else ""

    def run(self, serve_port: int) -> str:
        """Run the command as written, but against Serve on `serve_port`; its stdout."""
        command = self.command.replace(LOCAL_SERVE, f"localhost:{serve_port}")
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
        return done.stdout

    def shows(self, answer: str) -> bool:
        """Whether `answer` is the README's output, each `...` standing for any text."""
        pattern = ".*?".join(re.escape(part) for part in self.output.split("..."))
        return re.fullmatch(pattern, answer.strip(), flags=re.S) is not None


def curl_examples(text: str) -> list[CurlExample]:
    """Every `$ curl ...` line of the fenced blocks of `text`, with the output lines under it."""
    examples = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        lines = block.splitlines()
        for at, line in enumerate(lines):
            if not line.startswith("$ curl "):
                continue
            output = []
            for after in lines[at + 1:]:
                if after.startswith("$ ") or not after.strip():
                    break
                output.append(after)
            examples.append(CurlExample(line.removeprefix("$ "), "\n".join(output)))
    return examples
