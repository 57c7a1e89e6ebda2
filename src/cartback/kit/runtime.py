"""
Process-wide settings for Cartback's long-running processes (`serve`, its ingest writer,
`worker`), never for a library caller or a test run.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """
    Take every object alive now (imported modules, the app, the container: several hundred
    thousand) out of the garbage collector's full passes. Those passes otherwise walk them all
    again every few seconds under load, about 100 ms each on a 2-core machine, and every
    request in flight waits that long (measured: the tail of ingestion latency). Objects made
    later are collected as usual; these live as long as the process anyway.
    """
    gc.collect()
    gc.freeze()
