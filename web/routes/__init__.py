"""The server's routes, one module per area: prompts and queue, files, information, canvas, websocket."""
