"""A bare Django project for calibration (`python -m bench --only reference`): the
numbers the goals quote as the starting point, measured on this machine today."""
