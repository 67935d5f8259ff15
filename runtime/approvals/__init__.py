"""Layer 8, operator sign-off: the approval book (``approvals.book``), the conductor's desk
(``approvals.desk``), the live projection (``approvals.projection``) and read views
(``approvals.views``).
"""
