"""A bare Django project for calibration (`python -m bench --only reference`): the
numbers issue 8 quotes as the starting point, measured on this machine today."""
