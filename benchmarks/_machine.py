"""Returns a one-line description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform


def machine() -> str:
    """Return CPU model, core count, Python and torch versions as one line."""
    cpu = platform.processor() or "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        tv = torch.__version__ + (f", cuda {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no cuda")
    except ImportError:
        tv = "no torch"
    return f"{cpu}; {os.cpu_count()} cores; python {platform.python_version()}; torch {tv}"
