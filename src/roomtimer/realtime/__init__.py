"""Socket.IO: the server, the fast fan-out manager, lean sockets, and `compat`."""
