"""What this build is: its version, for `--version`, the start-up line and /metrics."""

import platform
from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed distribution's version."""
    try:
        return version("roomtimer")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def build_labels() -> dict[str, str]:
    """Labels of roomtimer_build_info."""
    return {
        "version": package_version(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }
