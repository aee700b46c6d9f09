"""What operators run besides the server: the system checks (``checks``), the
configuration doctor (``doctor``, `manage.py auth_doctor`) and schema repair
(``schema``, `manage.py repair_schema`).

May import: accounts.app_settings, accounts.keys, accounts.models, accounts.login.oidc,
accounts.cookies, accounts.ratelimit, accounts.requestkit, organisations.
"""
