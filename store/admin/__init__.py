"""Staff admin for the store: review themes, compose bundles, set the revenue policy.

Reviews and refunds (admin actions), and the saves of bundles, revenue
policies and payouts, go through ``store.services``, so each rule keeps its
one home and every change of a price, a listing or a creator's terms leaves
an audit entry. Sales, licences and earnings lines are facts: read-only
here. Reviewing needs ``store.review_theme`` and refunding
``billing.refund_charge``: the actions show only to staff holding them, and
the services check again; the saves need Django's add/change/delete
permission for the model, checked by the services too.
"""

from . import bundles, earnings, sales, themes

__all__ = ["bundles", "earnings", "sales", "themes"]
