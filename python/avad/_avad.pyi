"""Type stubs of the native module ``avad._avad`` (import ``avad``, which re-exports it)."""

import os
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, TypedDict, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, "os.PathLike[str]"]
_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]

__version__: str

class AvadError(RuntimeError):
    """An avad operation failed; the message is the command line's and names the file."""

class Extracted(TypedDict):
    visual: _F32
    """[T, D] crop 0: the values of ``OUT/visual/<video>__0.npy``."""
    visual_crops: List[_F32]
    """One [T, D] array per crop (``visual_crops[0] is visual``)."""
    audio: Optional[_F32]
    """[T, 512]: ``OUT/audio/<video>.npy``; None when the file has no audio stream."""
    audio_state: Literal["present", "silent", "none"]
    start_s: _F64
    end_s: _F64
    t: int
    width: int

class DoneMarker(TypedDict):
    video: str
    source: str
    t: int
    width: int
    crops: int
    stride: int
    max_snippets: Optional[int]
    audio: Literal["present", "silent", "none"]
    seconds: float

class ExtractOutcome(TypedDict):
    video: str
    outcome: Literal["done", "skipped"]
    marker: DoneMarker

class Prediction(TypedDict):
    probs: _F32
    """[T, C] softmax(logits2), column 0 = normal: ``avad predict``'s ``<video>.npy``."""
    anomaly_score: _F32
    """[T] C-branch sigmoid(logits1): ``avad predict --c-branch``'s ``c_branch/<video>.npy``."""
    audio_gate: Optional[_F32]
    audio_share: Optional[_F32]
    model: Literal["teacher", "visual_student", "audio_student", "visual"]
    reason: str
    class_names: List[str]

class Lists(TypedDict):
    list: Optional[Path]
    visual_only_list: Optional[Path]
    missing: List[str]

class Encoders:
    """CLIP's image tower and Wav2CLIP, loaded once (``avad extract`` / ``avad detect``'s encoders)."""

    def __init__(
        self,
        clip_model: _Path,
        wav2clip: _Path,
        engine: Literal["auto", "fast", "reference"] = "auto",
        threads: Optional[int] = None,
    ) -> None: ...
    @property
    def engine(self) -> Literal["fast", "reference"]: ...
    @property
    def visual_width(self) -> int: ...
    @property
    def image_size(self) -> int: ...
    def extract(
        self,
        video: _Path,
        crops: Literal[1, 10] = 1,
        stride: int = 16,
        max_snippets: Optional[int] = None,
        batch: int = 8,
    ) -> Extracted:
        """Features of one video, exactly the values ``avad extract`` writes."""
    def extract_to(
        self,
        video: _Path,
        out: _Path,
        crops: Literal[1, 10] = 1,
        stride: int = 16,
        max_snippets: Optional[int] = None,
        batch: int = 8,
    ) -> ExtractOutcome:
        """Extracts one video into ``out`` as ``avad extract --out OUT`` does (skipped when already done)."""
    def encode_images(self, images: npt.NDArray[np.uint8]) -> _F32:
        """[N, H, W, 3] (or [H, W, 3]) uint8 RGB -> [N, D] CLIP image embeddings (extraction's preprocessing)."""
    def encode_audio(
        self,
        audio: npt.ArrayLike,
        sample_rate: int,
        normalisation: Literal["shared", "per_segment"] = "shared",
    ) -> _F32:
        """[L] or [N, L] mono samples at ``sample_rate`` -> [N, 512] Wav2CLIP embeddings."""

class Model:
    """A checkpoint or a model bundle (teacher + students), as ``avad predict --model`` takes it."""

    @staticmethod
    def load(path: _Path, engine: Literal["auto", "fast", "reference"] = "auto") -> "Model": ...
    @property
    def class_names(self) -> List[str]: ...
    @property
    def members(self) -> List[str]: ...
    @property
    def is_bundle(self) -> bool: ...
    @property
    def path(self) -> Path: ...
    def predict(
        self,
        visual: npt.ArrayLike,
        audio: Optional[npt.ArrayLike] = None,
        live_window: Optional[int] = None,
        lookahead: Optional[int] = None,
    ) -> Prediction:
        """Scores one video's [T, D] features as ``avad predict`` does."""

def detect(
    video: _Path,
    model: Union[Model, _Path],
    clip_model: Optional[_Path] = None,
    wav2clip: Optional[_Path] = None,
    *,
    encoders: Optional[Encoders] = None,
    threshold: float = 0.5,
    engine: Literal["auto", "fast", "reference"] = "auto",
    stride: int = 16,
    batch: int = 8,
    max_snippets: Optional[int] = None,
    live_window: Optional[int] = None,
    lookahead: Optional[int] = None,
    csv: Optional[_Path] = None,
    html: Optional[_Path] = None,
) -> Dict[str, Any]:
    """``avad detect VIDEO --json`` as a dict (same keys and values)."""

def list_videos(videos: _Path) -> List[Path]:
    """The videos ``avad extract --videos`` takes (a folder or a text list), sorted by path."""

def video_name(video: _Path) -> str:
    """The name of a video's feature files: its file stem."""

def verify_done(
    out: _Path,
    video: _Path,
    crops: Literal[1, 10] = 1,
    stride: int = 16,
    max_snippets: Optional[int] = None,
) -> Optional[DoneMarker]:
    """The verified done-marker of ``video`` in ``out``, or None when it must be (re)done."""

def write_lists(
    out: _Path,
    videos: Sequence[_Path],
    crops: Literal[1, 10] = 1,
    stride: int = 16,
    max_snippets: Optional[int] = None,
) -> Lists:
    """Writes ``out/list.csv`` / ``out/list_visual_only.csv`` from the done-markers of ``videos``."""

def set_threads(threads: int) -> None:
    """Sizes the process-wide CPU compute pool (once per process)."""

class _Metrics(ModuleType):
    def evaluate(
        self,
        scores: Union[_Path, Mapping[str, npt.ArrayLike]],
        list: _Path,
        annotations: _Path,
        frame_annotations: Optional[_Path] = None,
        *,
        snippet_frames: int = 16,
        classes: str = "xd",
        lenient: bool = False,
        skip_empty_classes: bool = False,
    ) -> Dict[str, Any]: ...
    def average_precision(self, labels: npt.ArrayLike, scores: npt.ArrayLike) -> float: ...
    def roc_auc(self, labels: npt.ArrayLike, scores: npt.ArrayLike) -> float: ...
    def pr_auc(self, labels: npt.ArrayLike, scores: npt.ArrayLike) -> float: ...

metrics: _Metrics
