"""Models of the messaging app arrive with its issue; the app is installed from the start."""
