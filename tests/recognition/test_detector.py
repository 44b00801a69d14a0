"""Letterbox and NMS maths, the ONNX detector on a tiny in-test model and the shipped one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recognition.plates.letterbox import PAD_VALUE, letterbox
from recognition.plates.nms import box_iou, nms, xywh_to_xyxy

SHIPPED = Path(__file__).resolve().parents[2] / "recognition" / "models" / "plate_yolo.onnx"


def test_letterbox_rectangular_pads_to_stride() -> None:
    img = np.zeros((720, 1280, 3), np.uint8)
    out, lb = letterbox(img, size=640)
    assert out.shape == (384, 640, 3)
    assert lb.scale == pytest.approx(0.5)
    assert (lb.pad_x, lb.pad_y) == (0, 12)
    assert out[0, 0, 0] == PAD_VALUE and out[12, 0, 0] == 0


def test_letterbox_square_and_round_trip() -> None:
    img = np.zeros((300, 500, 3), np.uint8)
    out, lb = letterbox(img, size=640, square=True)
    assert out.shape == (640, 640, 3)
    frame_boxes = np.array([[100, 50, 200, 120], [0, 0, 500, 300]], np.float32)
    in_boxes = frame_boxes * lb.scale + [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]
    np.testing.assert_allclose(lb.to_frame(in_boxes.astype(np.float32)), frame_boxes, atol=1e-3)


def test_letterbox_portrait() -> None:
    out, lb = letterbox(np.zeros((1000, 400, 3), np.uint8), size=640)
    assert out.shape == (640, 256, 3)
    assert lb.pad_y == 0 and lb.pad_x == 0


def test_box_iou_and_xywh() -> None:
    a = np.array([0, 0, 10, 10], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [1.0, 1 / 3, 0.0], atol=1e-6)
    np.testing.assert_allclose(xywh_to_xyxy(np.array([[5, 5, 10, 4]], np.float32)), [[0, 3, 10, 7]])


def test_nms_keeps_best_of_overlapping_and_separate() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32
    )
    scores = np.array([0.6, 0.9, 0.5, 0.3], np.float32)
    assert nms(boxes, scores, iou_threshold=0.5).tolist() == [1, 2]
    assert nms(boxes, scores, iou_threshold=0.99).tolist() == [1, 0, 2, 3]
    assert nms(boxes, scores, iou_threshold=0.5, max_out=1).tolist() == [1]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), iou_threshold=0.5).size == 0


def _tiny_onnx(path: Path) -> None:
    """A fake 'YOLO' graph: output (B, 5, 1) = one box at the input's centre, score 0.9."""
    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info(
        "images", TensorProto.FLOAT, ["batch", 3, "height", "width"]
    )
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 5, 1])
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"]),
        helper.make_node("Cast", ["shape"], ["shapef"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["shapef", "idx_hw"], ["hw"], axis=0),  # (h, w)
        helper.make_node("Mul", ["hw", "half"], ["c"]),  # (h/2, w/2)
        helper.make_node("Gather", ["c", "swap"], ["cxcy"], axis=0),  # (w/2, h/2)
        helper.make_node("Concat", ["cxcy", "wh", "score"], ["row"], axis=0),  # 5 values
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0, axes=[1, 2, 3]),
        helper.make_node("Mul", ["m", "zero"], ["zb"]),  # (B,) zeros
        helper.make_node("Unsqueeze", ["zb", "ax12"], ["zb3"]),  # (B, 1, 1)
        helper.make_node("Reshape", ["row", "rshape"], ["row3"]),  # (1, 5, 1)
        helper.make_node("Add", ["zb3", "row3"], ["output0"]),
    ]
    inits = [
        helper.make_tensor("idx_hw", TensorProto.INT64, [2], [2, 3]),
        helper.make_tensor("half", TensorProto.FLOAT, [2], [0.5, 0.5]),
        helper.make_tensor("swap", TensorProto.INT64, [2], [1, 0]),
        helper.make_tensor("wh", TensorProto.FLOAT, [2], [64.0, 16.0]),
        helper.make_tensor("score", TensorProto.FLOAT, [1], [0.9]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("ax12", TensorProto.INT64, [2], [1, 2]),
        helper.make_tensor("rshape", TensorProto.INT64, [3], [1, 5, 1]),
    ]
    graph = helper.make_graph(nodes, "fake", [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_detector_maps_boxes_back_to_frame(tmp_path: Path) -> None:
    from recognition.plates.detector import YoloPlateDetector

    model = tmp_path / "fake.onnx"
    _tiny_onnx(model)
    det = YoloPlateDetector(model, threads=1, conf=0.5)
    frame = np.zeros((720, 1280, 3), np.uint8)
    (d,) = det.detect(frame)
    # input 640x384 (pad_y 12): centre (320, 192), 64x16 -> frame centre (640, 360), 128x32
    assert d.score == pytest.approx(0.9)
    assert (d.box.x1, d.box.y1, d.box.x2, d.box.y2) == pytest.approx((576, 344, 704, 376), abs=0.01)
    batch = det.detect_batch([frame, frame])
    assert len(batch) == 2 and batch[1][0].box == d.box
    assert YoloPlateDetector(model, threads=1, conf=0.95).detect(frame) == []


def test_shipped_model_runs_on_a_frame() -> None:
    if not SHIPPED.is_file():
        pytest.skip(f"shipped model absent: {SHIPPED}")
    from recognition.plates.detector import YoloPlateDetector

    det = YoloPlateDetector(threads=1)
    out = det.detect(np.full((720, 1280, 3), 90, np.uint8))
    assert all(0.0 <= d.score <= 1.0 for d in out)
    assert len(out) <= 1  # a flat grey frame holds no plates


def test_smaller_sizes_run_too_and_merge_before_nms(tmp_path: Path) -> None:
    from recognition.plates.detector import YoloPlateDetector

    model = tmp_path / "fake.onnx"
    _tiny_onnx(model)
    frame = np.zeros((720, 1280, 3), np.uint8)
    # the fake model's 64x16 box at 640 is 128x32 in the frame, at 320 it is 256x64
    got = YoloPlateDetector(model, threads=1, conf=0.5, also=(320,)).detect(frame)
    sizes = sorted((round(d.box.width), round(d.box.height)) for d in got)
    assert sizes == [(128, 32), (256, 64)]
    same = YoloPlateDetector(model, threads=1, conf=0.5, also=(640,)).detect(frame)
    assert len(same) == 1  # the main size is not run twice
