"""The notebook shell inside the sandbox: one IPython shell whose outputs land in nbformat form.

Standalone, like worker.py (which imports it inside the sandbox): the standard library and
IPython only. Outputs are nbformat v4 outputs (stream, execute_result, display_data, error), so
they compare with stored ones; a byte budget per cell stops a cell that prints too much.
"""

from __future__ import annotations

import base64


class OutputLimitExceeded(Exception):
    """Raised inside a cell when it writes more output than the limit allows."""


def jsonable(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class Capture:
    """The outputs of the running cell, in nbformat v4 form, with a byte budget."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.outputs = []
        self.size = 0
        self.exceeded = False

    def reset(self):
        self.outputs, self.size, self.exceeded = [], 0, False

    def _charge(self, nbytes):
        self.size += nbytes
        if self.max_bytes and self.size > self.max_bytes:
            self.exceeded = True
            raise OutputLimitExceeded(f"the cell wrote more than {self.max_bytes} bytes of output")

    def stream(self, name, text):
        if self.exceeded:
            raise OutputLimitExceeded("output limit already exceeded")
        self._charge(len(text))
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def rich(self, output_type, data, metadata, **extra):
        data = jsonable(data)
        self._charge(sum(len(str(v)) for v in data.values()))
        self.outputs.append({"output_type": output_type, "data": data, "metadata": jsonable(metadata or {}), **extra})


class CaptureStream:
    """sys.stdout / sys.stderr of a session."""

    def __init__(self, capture, name):
        self.capture, self.name = capture, name
        self.encoding = "utf-8"

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self.capture.stream(self.name, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("captured stream has no file descriptor")


def build_shell(capture):
    """One IPython shell whose displays, results and tracebacks land in `capture`."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class CapturingDisplayHook(DisplayHook):
        def start_displayhook(self):
            pass

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            capture.rich("execute_result", format_dict, md_dict, execution_count=self.shell.execution_count)

        def finish_displayhook(self):
            pass

    class CapturingDisplayPublisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            capture.rich("display_data", data, metadata)

        def clear_output(self, wait=False):
            capture.outputs.clear()

    class NotebookShell(InteractiveShell):
        def enable_gui(self, gui=None):
            pass  # no event loop: figures go through the inline backend

        def _showtraceback(self, etype, evalue, stb):
            capture.outputs.append(
                {"output_type": "error", "ename": etype.__name__, "evalue": str(evalue), "traceback": list(stb)}
            )

    shell = NotebookShell.instance(
        displayhook_class=CapturingDisplayHook,
        display_pub_class=CapturingDisplayPublisher,
        colors="NoColor",
        history_length=0,
        autocall=0,
    )
    shell.history_manager.enabled = False
    shell.enable_matplotlib("inline")  # figures shown at the end of each cell, as in Jupyter
    return shell
