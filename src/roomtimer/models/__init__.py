"""Tables and the pure timer state machine."""
