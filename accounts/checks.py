"""System checks for misconfiguration that would break login in a browser."""
