"""The demo data ``manage.py seed_demo`` loads: who logs in (``logins``) and
six months of their history, built through the billing services (``seed``)."""
