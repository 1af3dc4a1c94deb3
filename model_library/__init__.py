"""Installed model files: identify them by header, hash them, list, verify and install them."""
