"""HTTP and Socket.IO handlers: parse, authorize, call a service, shape the reply."""
