"""emoavatar recognizers: pixels -> emotion / AU / valence-arousal estimates, and the in-loop scorer.

    from recognizers import FER2013Recognizer, EmotionScorer
    rec = FER2013Recognizer(device="auto", detect_faces=True)
    print(rec(photo).labels)

Names resolve lazily, so `import recognizers` loads neither torch nor cv2.
"""

from __future__ import annotations

from avatar.lazy import lazy_exports

# name -> "module:attribute"; resolved on first access.
_LAZY = {
    "Recognition": "recognizers.base:Recognition",
    "BaseRecognizer": "recognizers.base:BaseRecognizer",
    "check_images": "recognizers.base:check_images",
    "FaceDetector": "recognizers.faces:FaceDetector",
    "FaceDetectorOptions": "recognizers.faces:FaceDetectorOptions",
    "FaceDetectorResult": "recognizers.faces:FaceDetectorResult",
    "crop_faces": "recognizers.faces:crop_faces",
    "detect_boxes": "recognizers.faces:detect_boxes",
    "FER2013Recognizer": "recognizers.fer2013:FER2013Recognizer",
    "FaceClassificationRecognizer": "recognizers.face_classification:FaceClassificationRecognizer",
    "BigXception": "recognizers.face_classification:BigXception",
    "MTCNN": "recognizers.mtcnn:MTCNN",
    "MTCNNFaceDetector": "recognizers.mtcnn:MTCNNFaceDetector",
    "MTCNNOptions": "recognizers.mtcnn:MTCNNOptions",
    "MTCNNResult": "recognizers.mtcnn:MTCNNResult",
    "batched_nms": "recognizers.nms:batched_nms",
    "ExpressionNet": "recognizers.expression_net:ExpressionNet",
    "ExpressionNetRecognizer": "recognizers.expression_net:ExpressionNetRecognizer",
    "MiniXception": "recognizers.fer2013:MiniXception",
    "FaceApiExpressionRecognizer": "recognizers.face_expression_net:FaceApiExpressionRecognizer",
    "FaceExpressionNet": "recognizers.face_expression_net:FaceExpressionNet",
    "EmotionScorer": "recognizers.scoring:EmotionScorer",
    "Score": "recognizers.scoring:Score",
    "concordance_correlation": "recognizers.scoring:concordance_correlation",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("recognizers", _LAZY, globals())
