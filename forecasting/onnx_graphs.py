"""ONNX graphs for the two small models, built from numpy weights with ``onnx.helper``.

(a) ``anomaly``: z-normalise each telemetry window, project onto the principal
    components of normal windows; two scores, each divided by its own threshold
    (trained on normal windows) and the larger one kept, so 1.0 is the threshold:
    the mean squared reconstruction error (spikes, odd shapes) and the largest
    jump in the residual over its median jump (level steps, stuck-then-jump).
(b) ``forecaster``: a global 1-4 h forecaster across series: z-normalise the
    last day, append time-of-day features, one ReLU hidden layer, denormalise.

Both take a batch (first dimension ``N``) so callers amortise per-call overhead.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
EPS = 1e-3


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def _znorm_nodes(x: str) -> list[onnx.NodeProto]:
    """Nodes producing ``mu``, ``sd`` and ``z`` for input ``x`` [N, W]."""
    return [
        helper.make_node("ReduceMean", [x, "axes1"], ["mu"], keepdims=1),
        helper.make_node("Sub", [x, "mu"], ["xc"]),
        helper.make_node("Mul", ["xc", "xc"], ["xc2"]),
        helper.make_node("ReduceMean", ["xc2", "axes1"], ["var"], keepdims=1),
        helper.make_node("Add", ["var", "eps"], ["var_eps"]),
        helper.make_node("Sqrt", ["var_eps"], ["sd"]),
        helper.make_node("Div", ["xc", "sd"], ["z"]),
    ]


def _common_inits() -> list[onnx.TensorProto]:
    return [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1"),
        _init("eps", np.array(EPS)),
    ]


def anomaly_graph(
    components: np.ndarray,
    metadata: dict[str, object],
    *,
    shape_threshold: float,
    jump_threshold: float,
    jump_floor: float,
) -> onnx.ModelProto:
    """``components``: [W, k] orthonormal columns. Input ``window`` [N, W] -> ``score`` [N, 1].

    ``score`` = max(shape / shape_threshold, jump / jump_threshold) where shape is the
    mean squared residual and jump = max |diff(residual)| / (median |diff| + jump_floor).
    """
    width = components.shape[0]
    nodes = [
        *_znorm_nodes("window"),
        helper.make_node("MatMul", ["z", "P"], ["code"]),
        helper.make_node("MatMul", ["code", "PT"], ["recon"]),
        helper.make_node("Sub", ["z", "recon"], ["resid"]),
        helper.make_node("Mul", ["resid", "resid"], ["resid2"]),
        helper.make_node("ReduceMean", ["resid2", "axes1"], ["shape"], keepdims=1),
        helper.make_node("Div", ["shape", "shape_thr"], ["shape_n"]),
        # jumps: |r[t+1] - r[t]|; the median of the W-1 jumps is the smallest of the
        # top half (TopK), robust to the one jump a level step makes
        helper.make_node("Slice", ["resid", "one", "big", "axes1"], ["r_next"]),
        helper.make_node("Slice", ["resid", "zero", "minus_one", "axes1"], ["r_prev"]),
        helper.make_node("Sub", ["r_next", "r_prev"], ["dr"]),
        helper.make_node("Abs", ["dr"], ["jumps"]),
        helper.make_node("ReduceMax", ["jumps", "axes1"], ["jump_max"], keepdims=1),
        helper.make_node("TopK", ["jumps", "half"], ["top_half", "top_idx"], axis=1),
        helper.make_node("ReduceMin", ["top_half", "axes1"], ["jump_median"], keepdims=1),
        helper.make_node("Add", ["jump_median", "jump_floor"], ["jump_scale"]),
        helper.make_node("Div", ["jump_max", "jump_scale"], ["jump"]),
        helper.make_node("Div", ["jump", "jump_thr"], ["jump_n"]),
        helper.make_node("Max", ["shape_n", "jump_n"], ["score"]),
    ]
    i64 = np.int64
    graph = helper.make_graph(
        nodes,
        "gridaios_anomaly",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        [
            *_common_inits(),
            _init("P", components),
            _init("PT", components.T),
            _init("shape_thr", np.array(shape_threshold)),
            _init("jump_thr", np.array(jump_threshold)),
            _init("jump_floor", np.array(jump_floor)),
            numpy_helper.from_array(np.array([0], dtype=i64), "zero"),
            numpy_helper.from_array(np.array([1], dtype=i64), "one"),
            numpy_helper.from_array(np.array([-1], dtype=i64), "minus_one"),
            numpy_helper.from_array(np.array([width + 1], dtype=i64), "big"),
            numpy_helper.from_array(np.array([width // 2], dtype=i64), "half"),
        ],
    )
    return _model(graph, metadata)


def forecaster_graph(
    w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray, metadata: dict[str, object]
) -> onnx.ModelProto:
    """Inputs ``history`` [N, L] and ``calendar`` [N, C] -> ``forecast`` [N, H]."""
    n_calendar = int(str(metadata.get("calendar_features", 4)))
    lookback = w1.shape[0] - n_calendar
    horizon = w2.shape[1]
    nodes = [
        *_znorm_nodes("history"),
        helper.make_node("Concat", ["z", "calendar"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "W1"], ["h_lin"]),
        helper.make_node("Add", ["h_lin", "B1"], ["h_pre"]),
        helper.make_node("Relu", ["h_pre"], ["hidden"]),
        helper.make_node("MatMul", ["hidden", "W2"], ["o_lin"]),
        helper.make_node("Add", ["o_lin", "B2"], ["zhat"]),
        helper.make_node("Mul", ["zhat", "sd"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mu"], ["forecast"]),
    ]
    graph = helper.make_graph(
        nodes,
        "gridaios_forecaster",
        [
            helper.make_tensor_value_info("history", TensorProto.FLOAT, ["N", lookback]),
            helper.make_tensor_value_info("calendar", TensorProto.FLOAT, ["N", n_calendar]),
        ],
        [helper.make_tensor_value_info("forecast", TensorProto.FLOAT, ["N", horizon])],
        [*_common_inits(), _init("W1", w1), _init("B1", b1), _init("W2", w2), _init("B2", b2)],
    )
    return _model(graph, metadata)


def _model(graph: onnx.GraphProto, metadata: dict[str, object]) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    model.producer_name = "gridaios.forecasting.train"
    set_metadata(model, metadata)
    onnx.checker.check_model(model)
    return model


def set_metadata(model: onnx.ModelProto, metadata: dict[str, object]) -> None:
    del model.metadata_props[:]
    for key, value in metadata.items():
        text = value if isinstance(value, str) else json.dumps(value)
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=text))
