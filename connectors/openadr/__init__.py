"""OpenADR VENs: 2.0b on openleadr (``oadr20b``); events translated to the internal DR model."""

from connectors.openadr.translate import Interval, OadrEvent, Untranslatable, translate_event

__all__ = ["Interval", "OadrEvent", "Untranslatable", "translate_event"]
