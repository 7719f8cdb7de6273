"""Progress of long loops: a tqdm bar in a terminal, plain log lines anywhere else.

Outside a terminal (CI, ``nohup``, stderr redirected to a file) every tqdm redraw would be
written out, joined by carriage returns: the log of one ``hf-fair run`` was 160 KB of bars.
There :func:`progress` gives a :class:`LogProgress` instead, which logs one line each time another
10% of the work is done or 30 s have passed, and :func:`quiet_library_bars` turns off the bars of
datasets, the Hub client, transformers and diffusers. ``TQDM_DISABLE=1`` silences both kinds.
"""

from __future__ import annotations

import logging
import os
import sys
import time

logger = logging.getLogger("hf_fair.progress")
EVERY_FRACTION, EVERY_SECONDS = 0.1, 30.0


def interactive() -> bool:
    """Whether stderr is a terminal (where a redrawn bar is readable) or a notebook (tqdm.auto
    draws a widget there)."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _disabled_by_env() -> bool:
    return os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


class LogProgress:
    """The part of tqdm's interface hf-fair uses (iterate, ``update``, ``set_postfix``, ``close``),
    written as log lines: ``generate vanilla: 40/400 img (10%) [3 s]``."""

    def __init__(self, iterable=None, total=None, initial: int = 0, desc: str | None = None, unit: str = "it",
                 disable: bool = False, **_tqdm_options):
        self.iterable = iterable
        if total is None and iterable is not None:
            try:
                total = len(iterable)
            except TypeError:
                total = None
        self.total, self.n, self.desc, self.unit = total, initial, desc or "progress", unit
        self.disable = disable or _disabled_by_env()
        self.postfix = ""
        self._start = self._last_time = time.monotonic()
        self._last_n = initial
        self._last_tenth = self._tenth(initial)

    def _tenth(self, n: int) -> int:
        return int(n / self.total / EVERY_FRACTION + 1e-9) if self.total else 0

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        return self.total or 0

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or self.desc

    def refresh(self) -> None:
        pass

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable:
            return
        now, tenth = time.monotonic(), self._tenth(self.n)
        if tenth > self._last_tenth or now - self._last_time >= EVERY_SECONDS:
            self._log(now, tenth)

    def _log(self, now: float, tenth: int) -> None:
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        logger.info("%s: %s %s%s%s [%.0f s]", self.desc, done, self.unit, share, extra, now - self._start)
        self._last_time, self._last_n, self._last_tenth = now, self.n, tenth

    def close(self) -> None:
        """The last line, when the work went on after the last one logged."""
        if not self.disable and self.n != self._last_n:
            self._log(time.monotonic(), self._tenth(self.n))
        self.disable = True


def progress(iterable=None, **kwargs):
    """``tqdm.auto.tqdm(iterable, **kwargs)`` in a terminal, a :class:`LogProgress` elsewhere."""
    if interactive():
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    return LogProgress(iterable, **kwargs)


def quiet_library_bars() -> None:
    """Outside a terminal, turn off the libraries' own bars (datasets' map/save, the Hub's
    downloads, transformers' and diffusers' loading); in a terminal, do nothing."""
    if interactive():
        return
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"  # read when datasets is first imported
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # transformers follows the Hub's setting when it is imported
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
    for name in ("transformers", "diffusers"):
        if name in sys.modules:
            import importlib

            importlib.import_module(f"{name}.utils.logging").disable_progress_bar()
