"""Models of the payouts app arrive with its issue; the app is installed from the start."""
