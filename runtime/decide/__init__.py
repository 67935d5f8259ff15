"""Layer 4, the decision, pure: the peak-shaving rule (``decide.policy``), the gate inputs
(``decide.gate_inputs``), the power-flow check (``decide.gridcheck``) and the one step
(``decide.step``).
"""
