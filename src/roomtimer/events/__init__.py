"""The one path of room events: the bus, its relay between workers, and its outputs."""
