"""The HTTP and WebSocket routes of SPEC §6.3, one module per resource."""
