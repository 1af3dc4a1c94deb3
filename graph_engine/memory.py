"""How much memory this process can still allocate: the system's available memory, capped by the process's limits."""
from __future__ import annotations

import os

try:
    import resource
except ImportError:  # Windows: no process limits to read
    resource = None

# each process limit, with the line of /proc/self/status that says how much of it is in use
_LIMITS = (("RLIMIT_AS", "VmSize:"), ("RLIMIT_DATA", "VmData:"))


def system_available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (it counts reclaimable page cache), else the free pages sysconf reports;
    None when the system says neither."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _status_bytes() -> dict[str, int]:
    """The kB fields of /proc/self/status, in bytes (empty where there is no /proc)."""
    fields = {}
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    fields[parts[0]] = int(parts[1]) * 1024
    except (OSError, ValueError):
        pass
    return fields


def room_under_limits() -> int | None:
    """Bytes left under the address-space and data limits (`ulimit -v`, `ulimit -d`), or None when neither is set."""
    if resource is None:
        return None
    rooms = []
    status = None
    for limit, field in _LIMITS:
        soft, _hard = resource.getrlimit(getattr(resource, limit))
        if soft == resource.RLIM_INFINITY:
            continue
        status = status if status is not None else _status_bytes()
        rooms.append(max(soft - status.get(field, 0), 0))
    return min(rooms) if rooms else None


def available_memory() -> int | None:
    """What a node could still allocate in this process: the smaller of the system's available memory and the room
    under the process's limits; None when nothing says."""
    known = [amount for amount in (system_available_memory(), room_under_limits()) if amount is not None]
    return min(known) if known else None
