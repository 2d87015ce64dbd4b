"""Discovery through an erpc registry center (CENTER.md): ``erpc.Center.discover`` lists a
service's instances; :func:`connect` picks one this client can reach."""

import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .client import Client
from .status import Code, RpcError

#: The center's service name.
CENTER = "erpc.Center"
#: Address schemes this client can dial.
DIALABLE = ("tcp://", "unix://")


@dataclass
class Instance:
    """One registered instance, as the center returns it (erpc's ``discovery::Instance``)."""

    service: str
    id: str
    addrs: List[str]
    weight: int = 100
    version: str = ""
    group: str = ""
    tags: List[str] = field(default_factory=list)
    metadata: Dict[str, str] = field(default_factory=dict)
    location: Optional[Tuple[float, float]] = None

    @classmethod
    def from_wire(cls, m):
        location = m.get("location")
        return cls(m["service"], m["id"], list(m["addrs"]), m.get("weight", 100), m.get("version", ""),
                   m.get("group", ""), list(m.get("tags", [])), dict(m.get("metadata", {})),
                   tuple(location) if location is not None else None)


async def discover(center, service, *, group=None, version=None, tags=(), timeout=5.0):
    """The instances of ``service`` the center at ``center`` (an address, or a list tried in
    order) lists, filtered by group, version and tags (all must be present), and the revision
    they are current at: ``(instances, revision)``."""
    centers = [center] if isinstance(center, str) else list(center)
    # Filter { group, version, tags }: every field is sent; None matches every value.
    request = [service, {"group": group, "version": version, "tags": list(tags)}]
    failures = []
    for address in centers:
        async with Client(address, timeout=timeout) as client:
            try:
                listing = await client.call(CENTER, "discover", request)
            except RpcError as e:
                if e.code != Code.UNAVAILABLE:
                    raise
                failures.append(f"{address}: {e.message}")
                continue
        return [Instance.from_wire(m) for m in listing["instances"]], listing["revision"]
    raise RpcError(Code.UNAVAILABLE, "no center answered: " + "; ".join(failures))


async def connect(center, service, *, group=None, version=None, tags=(), **client_options):
    """A Client connected to one instance of ``service``: instances are tried in a random
    order weighted by their ``weight`` (0 takes none), each at its first address this client
    can dial, until one accepts the connection. Raises UNAVAILABLE naming every failure when
    none does, NOT_FOUND when the center lists none."""
    instances, _ = await discover(center, service, group=group, version=version, tags=tags)
    candidates = [i for i in instances if i.weight > 0 and any(a.startswith(DIALABLE) for a in i.addrs)]
    if not candidates:
        raise RpcError(Code.NOT_FOUND, f"the center lists no instance of {service} with a tcp:// or unix:// address ({len(instances)} listed)")
    failures = []
    for instance in _weighted_order(candidates):
        address = next(a for a in instance.addrs if a.startswith(DIALABLE))
        client = Client(address, **client_options)
        try:
            await client._connection()
        except RpcError as e:
            client.close()
            failures.append(f"{instance.id} at {address}: {e.message}")
            continue
        client.instance = instance
        return client
    raise RpcError(Code.UNAVAILABLE, f"no instance of {service} could be reached: " + "; ".join(failures))


def _weighted_order(instances):
    """A random order where heavier instances tend to come first (weighted sampling without
    replacement: each key is u^(1/weight))."""
    return sorted(instances, key=lambda i: random.random() ** (1.0 / i.weight), reverse=True)
