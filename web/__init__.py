"""The aiohttp server and the canvas (not built yet)."""
