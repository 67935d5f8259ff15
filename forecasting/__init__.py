"""Forecasts (statsforecast), quantized models (onnxruntime) and the local LLM, behind one router.

Empty until the forecasting issue lands; the skeleton's policy uses live state only.
"""

__all__: list[str] = []
