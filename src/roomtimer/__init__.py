"""roomtimer: room-based live countdown server."""
