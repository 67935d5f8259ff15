"""Layer 7, keeping a site running: jobs and breakers (``service.jobs``), supervision
(``service.supervise``) and housekeeping (``service.housekeeping``).
"""
