"""The hierarchy: a conductor per site and one controller sharing a feeder cap over MQTT.

Import the shells from their modules (``runtime.hierarchy.site_link.SiteLink``,
``runtime.hierarchy.controller.Controller``); this package names the pure parts.
"""

from runtime.hierarchy.allocate import Allocation, allocate, plan
from runtime.hierarchy.wire import Cap, Heartbeat, PolicyPush, SiteSummary

__all__ = ["Allocation", "Cap", "Heartbeat", "PolicyPush", "SiteSummary", "allocate", "plan"]
