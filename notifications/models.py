"""Models of the notifications app arrive with its issue; the app is installed from the start."""
