"""Models of the escrow app arrive with its issue; the app is installed from the start."""
