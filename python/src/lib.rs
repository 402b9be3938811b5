//! `avad._avad`: the native half of the `avad` Python package (`python/avad/` is the other half).
//!
//! Wiring only, as the CLI is: every computation is a call into avad-pipeline (extraction, detection), avad-infer
//! (prediction) and avad-core (metrics), the same functions `avad extract` / `predict` / `detect` / `eval` call, so the
//! package's outputs are those of the CLI. Arrays come in as numpy arrays (read in place when float32 and
//! C-contiguous, converted once otherwise) and go out as numpy arrays that own the Rust buffers (no copy). Every
//! computation runs with the GIL released ([`Python::detach`]), so Python threads run in parallel. Errors are
//! `avad.AvadError` (a `RuntimeError`) with the CLI's message text; wrong argument types, shapes and values are
//! `ValueError` / `TypeError`.
//!
//! Backend: burn's CPU backend (`Flex`) with avad's fast fp32 kernels (`engine="auto"`), as the CLI without
//! `--device cuda`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use avad_core::eval::{evaluate_dir, evaluate_with, EvalOptions};
use avad_core::features::Features;
use avad_core::ground_truth::Strictness;
use avad_core::labels::LabelMap;
use avad_core::metrics::detection_map::{DetectionMapOptions, EmptyClassRule};
use avad_core::npy::NpyArray;
use avad_infer::{LiveWindow, ModelBundle, ModelEngine, StoredFeatures};
use avad_pipeline::{EncoderEngine, FeatureOptions, ScoreOptions, VideoOutcome};
use avad_wav2clip::Normalisation;
use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// The CPU backend, as the CLI's `--device cpu`.
type B = burn_flex::Flex;

create_exception!(
    avad,
    AvadError,
    PyRuntimeError,
    "An avad operation failed (unreadable or malformed file, model mismatch, bad media...). The message is the one \
     the `avad` command line prints, and names the file."
);

/// `{error}: {cause}: {cause}...`, as the CLI prints errors (`anyhow`'s `{:#}`).
fn avad_err(e: impl Into<anyhow::Error>) -> PyErr {
    AvadError::new_err(format!("{:#}", e.into()))
}

/// [`avad_err`] with a context line first, as the CLI's `.with_context(...)`.
fn avad_err_ctx(e: impl Into<anyhow::Error>, context: String) -> PyErr {
    AvadError::new_err(format!("{:#}", e.into().context(context)))
}

fn value_err(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A JSON string as Python objects (`json.loads`), so dicts keep the CLI's JSON exactly.
fn json_to_py<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (json,))
}

/// Sizes the global CPU pool (every kernel's threads) to `n`, as the CLI's `--threads`: once per process; asking
/// again for the size it has is fine, another size is an error.
fn apply_threads(n: Option<usize>) -> PyResult<()> {
    let Some(n) = n else { return Ok(()) };
    if n == 0 {
        return Err(value_err("threads must be at least 1"));
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
    {
        Ok(()) => Ok(()),
        Err(_) if rayon::current_num_threads() == n => Ok(()),
        Err(e) => Err(AvadError::new_err(format!(
            "threads={n}: the CPU thread pool was already started with {} threads: {e}",
            rayon::current_num_threads()
        ))),
    }
}

/// The array `obj` as float32, C-contiguous: itself when it already is one (no copy), else
/// `numpy.ascontiguousarray(obj, dtype=float32)`.
fn f32_array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        if a.is_c_contiguous() {
            return Ok(a.clone());
        }
    }
    let np = obj.py().import("numpy")?;
    let converted = np
        .call_method1("ascontiguousarray", (obj, "float32"))
        .map_err(|e| value_err(format!("{name}: cannot be read as a float32 array: {e}")))?;
    converted
        .cast_into::<PyArrayDyn<f32>>()
        .map_err(|e| value_err(format!("{name}: not a numeric array: {e}")))
}

/// A 2-D float32 array `[rows, cols]` as [`Features`] (one copy: the model API owns its inputs).
fn features_2d(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Features> {
    let a = f32_array(obj, name)?;
    let shape = a.shape().to_vec();
    if shape.len() != 2 || shape[0] == 0 || shape[1] == 0 {
        return Err(value_err(format!(
            "{name} must be a [T, D] array with T >= 1, got shape {shape:?}"
        )));
    }
    let ro = a.readonly();
    let data = ro
        .as_slice()
        .map_err(|e| value_err(format!("{name}: {e}")))?
        .to_vec();
    Ok(Features::new(shape[0], shape[1], data))
}

/// `rows × cols` row-major values as a numpy array that owns them.
fn array2<'py>(
    py: Python<'py>,
    rows: usize,
    cols: usize,
    data: Vec<f32>,
) -> PyResult<Bound<'py, PyAny>> {
    let a = Array2::from_shape_vec((rows, cols), data)
        .map_err(|e| AvadError::new_err(format!("internal shape error: {e}")))?;
    Ok(a.into_pyarray(py).into_any())
}

fn array1<'py, T: numpy::Element>(py: Python<'py>, data: Vec<T>) -> Bound<'py, PyAny> {
    Array1::from_vec(data).into_pyarray(py).into_any()
}

/// `engine=` of the encoders: `auto` and `fast` are the fast CPU kernels, `reference` burn's generic ops.
fn encoder_engine(engine: &str) -> PyResult<EncoderEngine> {
    match engine {
        "auto" | "fast" => Ok(EncoderEngine::FastCpu),
        "reference" => Ok(EncoderEngine::Reference),
        other => Err(value_err(format!(
            "engine must be auto, fast or reference, not `{other}`"
        ))),
    }
}

/// Extraction options, checked as the CLI checks its flags.
fn feature_options(
    crops: usize,
    stride: usize,
    max_snippets: Option<usize>,
    batch: usize,
) -> PyResult<FeatureOptions> {
    if crops != 1 && crops != 10 {
        return Err(value_err(format!("crops must be 1 or 10, not {crops}")));
    }
    if stride == 0 || batch == 0 {
        return Err(value_err("stride and batch must be at least 1"));
    }
    Ok(FeatureOptions {
        crops,
        stride,
        max_snippets,
        batch,
        ..FeatureOptions::default()
    })
}

/// `live_window` / `lookahead`: the live rule of `avad watch`, as the CLI's `--live-window` / `--lookahead`.
fn live_rule(window: Option<usize>, lookahead: Option<usize>) -> PyResult<Option<LiveWindow>> {
    match (window, lookahead) {
        (None, Some(_)) => Err(value_err("lookahead needs live_window (the live rule)")),
        (None, None) => Ok(None),
        (Some(window), k) => Ok(Some(LiveWindow {
            window,
            lookahead: k.unwrap_or(0),
        })),
    }
}

/// The frozen encoders of `avad extract` / `avad detect`: CLIP's image tower and Wav2CLIP, loaded once.
///
/// Args:
///     clip_model: CLIP weights, a Hugging Face ``CLIPModel`` folder or an OpenAI-named safetensors file.
///     wav2clip: Wav2CLIP weights (``Wav2CLIP.pt`` or safetensors with the same keys).
///     engine: ``"auto"`` / ``"fast"`` (avad's fp32 CPU kernels, the CLI's default) or ``"reference"`` (burn's
///         generic ops; within 1e-4 of fast).
///     threads: CPU threads of the process-wide compute pool (the CLI's ``--threads``); default one per core or
///         ``RAYON_NUM_THREADS``. Can be set once per process.
///
/// Raises:
///     AvadError: a weight file is missing or malformed (the message names it).
#[pyclass(module = "avad", frozen)]
struct Encoders {
    inner: avad_pipeline::Encoders<B>,
    engine: EncoderEngine,
}

#[pymethods]
impl Encoders {
    #[new]
    #[pyo3(signature = (clip_model, wav2clip, engine = "auto", threads = None))]
    fn new(
        py: Python<'_>,
        clip_model: PathBuf,
        wav2clip: PathBuf,
        engine: &str,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let engine = encoder_engine(engine)?;
        apply_threads(threads)?;
        let inner = py.detach(|| {
            avad_pipeline::Encoders::<B>::load(
                &clip_model,
                &wav2clip,
                &burn_flex::FlexDevice,
                engine,
            )
            .map_err(avad_err)
        })?;
        Ok(Self { inner, engine })
    }

    /// ``"fast"`` or ``"reference"``: how the encoders compute.
    #[getter]
    fn engine(&self) -> &'static str {
        self.engine.as_str()
    }

    /// Width D of the visual features (CLIP's projection width, 512 for ViT-B/16).
    #[getter]
    fn visual_width(&self) -> usize {
        self.inner.visual_width()
    }

    /// CLIP's input side in pixels (224 for ViT-B/16).
    #[getter]
    fn image_size(&self) -> usize {
        self.inner.image_size()
    }

    /// Features of one video, exactly the values ``avad extract`` writes.
    ///
    /// Args:
    ///     video: the video file.
    ///     crops: 1 (CLIP preprocessing of the whole frame) or 10 (AVadCLIP's 10-crop).
    ///     stride: one snippet per ``stride`` decoded frames (16).
    ///     max_snippets: stop after this many snippets.
    ///     batch: snippets per CLIP forward pass (does not change the values).
    ///
    /// Returns:
    ///     dict: ``visual`` float32 [T, D] (crop 0, ``OUT/visual/<video>__0.npy``), ``visual_crops`` (list of
    ///     ``crops`` arrays [T, D], ``visual_crops[0] is visual``), ``audio`` float32 [T, 512]
    ///     (``OUT/audio/<video>.npy``) or ``None`` when the file has no audio stream, ``audio_state``
    ///     (``present`` / ``silent`` / ``none``), ``start_s`` / ``end_s`` float64 [T] (snippet spans, seconds),
    ///     ``t``, ``width``.
    ///
    /// Raises:
    ///     AvadError: the file cannot be decoded (the message names it).
    #[pyo3(signature = (video, crops = 1, stride = 16, max_snippets = None, batch = 8))]
    fn extract<'py>(
        &self,
        py: Python<'py>,
        video: PathBuf,
        crops: usize,
        stride: usize,
        max_snippets: Option<usize>,
        batch: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opts = feature_options(crops, stride, max_snippets, batch)?;
        let f = py.detach(|| {
            avad_pipeline::extract_video(&self.inner, &video, &opts, &mut |_| {})
                .map_err(|e| video_err(&video, e))
        })?;
        let d = PyDict::new(py);
        let crops_list = PyList::empty(py);
        for v in f.visual {
            crops_list.append(array2(py, f.t, f.width, v)?)?;
        }
        d.set_item("visual", crops_list.get_item(0)?)?;
        d.set_item("visual_crops", crops_list)?;
        let audio_state = avad_pipeline::extract::audio_state_str(f.audio_state, f.audio.is_some());
        match f.audio {
            Some(a) => d.set_item("audio", array2(py, f.t, avad_wav2clip::EMBED_DIM, a)?)?,
            None => d.set_item("audio", py.None())?,
        }
        d.set_item("audio_state", audio_state)?;
        d.set_item(
            "start_s",
            array1(py, f.snippets.iter().map(|s| s.start_s).collect()),
        )?;
        d.set_item(
            "end_s",
            array1(py, f.snippets.iter().map(|s| s.end_s).collect()),
        )?;
        d.set_item("t", f.t)?;
        d.set_item("width", f.width)?;
        Ok(d)
    }

    /// Extracts one video into ``out`` exactly as ``avad extract --out OUT`` does for it: ``visual/<video>__<c>.npy``,
    /// ``audio/<video>.npy`` and then the done-marker ``done/<video>.json``, each written atomically; skipped when a
    /// verified earlier result with the same settings exists. Lists are not written (``avad.write_lists``). Safe
    /// to call from many processes on one shared folder with distinct videos (what ``examples/ray_extract.py``
    /// does).
    ///
    /// Returns:
    ///     dict: ``video`` (name), ``outcome`` (``done`` / ``skipped``) and ``marker`` (the done-marker).
    ///
    /// Raises:
    ///     AvadError: the video failed (the message names it, as ``avad extract``'s ``failures:`` do).
    #[pyo3(signature = (video, out, crops = 1, stride = 16, max_snippets = None, batch = 8))]
    #[allow(clippy::too_many_arguments)]
    fn extract_to<'py>(
        &self,
        py: Python<'py>,
        video: PathBuf,
        out: PathBuf,
        crops: usize,
        stride: usize,
        max_snippets: Option<usize>,
        batch: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opts = feature_options(crops, stride, max_snippets, batch)?;
        let outcome = py.detach(|| {
            avad_pipeline::extract_into(&self.inner, &video, &out, &opts, &mut |_| {})
                .map_err(|e| video_err(&video, e))
        })?;
        outcome_dict(py, &outcome)
    }

    /// Projected CLIP image embeddings of RGB images, preprocessed as ``avad extract`` preprocesses a frame
    /// (crop 0: shortest side to the model's size with Pillow-exact bicubic, centre crop, CLIP mean/std).
    ///
    /// Args:
    ///     images: uint8 array [N, H, W, 3] (or one image [H, W, 3]), RGB.
    ///
    /// Returns:
    ///     float32 array [N, D].
    fn encode_images<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = images.cast::<PyArrayDyn<u8>>().map_err(|_| {
            value_err("images must be a uint8 numpy array [N, H, W, 3] (or [H, W, 3]), RGB")
        })?;
        let shape = a.shape().to_vec();
        let (n, h, w) = match shape.as_slice() {
            [h, w, 3] => (1, *h, *w),
            [n, h, w, 3] => (*n, *h, *w),
            _ => {
                return Err(value_err(format!(
                    "images must have shape [N, H, W, 3] or [H, W, 3], got {shape:?}"
                )))
            }
        };
        if n == 0 || h == 0 || w == 0 {
            return Err(value_err(format!("images: empty shape {shape:?}")));
        }
        let ro = a.readonly();
        let owned;
        let pixels: &[u8] = match ro.as_slice() {
            Ok(s) => s,
            Err(_) => {
                owned = ro.as_array().iter().copied().collect::<Vec<u8>>();
                &owned
            }
        };
        let size = self.inner.image_size() as u32;
        let emb = py.detach(|| {
            let mut input = Vec::with_capacity(n * 3 * (size as usize).pow(2));
            for img in pixels.chunks_exact(h * w * 3) {
                let img = image::RgbImage::from_raw(w as u32, h as u32, img.to_vec())
                    .expect("buffer length checked");
                input.extend(avad_clip::preprocess::clip_pixels(&img, size));
            }
            self.inner
                .encode_images(input, n, Path::new("<images>"))
                .map_err(avad_err)
        })?;
        array2(py, n, self.inner.visual_width(), emb)
    }

    /// Wav2CLIP embeddings of audio windows, as ``avad extract`` embeds a video's snippet windows.
    ///
    /// Args:
    ///     audio: float32 mono samples, one window [L] or a batch of equal-length windows [N, L].
    ///     sample_rate: their rate in Hz; resampled to 16 kHz (Wav2CLIP's rate) first when different.
    ///     normalisation: ``"shared"`` (one spectrogram mean/std over all windows of the call, what extraction
    ///         does per video) or ``"per_segment"`` (each window alone, the live rule).
    ///
    /// Returns:
    ///     float32 array [N, 512] (N = 1 for a single window).
    #[pyo3(signature = (audio, sample_rate, normalisation = "shared"))]
    fn encode_audio<'py>(
        &self,
        py: Python<'py>,
        audio: &Bound<'py, PyAny>,
        sample_rate: u32,
        normalisation: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let norm = match normalisation {
            "shared" => Normalisation::Shared,
            "per_segment" | "per-segment" => Normalisation::PerSegment,
            other => {
                return Err(value_err(format!(
                    "normalisation must be shared or per_segment, not `{other}`"
                )))
            }
        };
        let a = f32_array(audio, "audio")?;
        let shape = a.shape().to_vec();
        let (n, len) = match shape.as_slice() {
            [l] => (1, *l),
            [n, l] => (*n, *l),
            _ => {
                return Err(value_err(format!(
                    "audio must be [L] or [N, L] samples, got shape {shape:?}"
                )))
            }
        };
        if n == 0 || len == 0 {
            return Err(value_err(format!("audio: empty shape {shape:?}")));
        }
        let ro = a.readonly();
        let samples = ro
            .as_slice()
            .map_err(|e| value_err(format!("audio: {e}")))?;
        let emb = py
            .detach(|| -> anyhow::Result<Vec<f32>> {
                let windows: Vec<Vec<f32>> = samples
                    .chunks_exact(len)
                    .map(|w| avad_wav2clip::resample(w, sample_rate, avad_wav2clip::SAMPLE_RATE))
                    .collect::<Result<_, _>>()?;
                let refs: Vec<&[f32]> = windows.iter().map(|w| w.as_slice()).collect();
                Ok(self.inner.encode_audio(&refs, norm, Path::new("<audio>"))?)
            })
            .map_err(avad_err)?;
        array2(py, n, avad_wav2clip::EMBED_DIM, emb)
    }

    fn __repr__(&self) -> String {
        format!(
            "Encoders(engine={:?}, visual_width={}, image_size={})",
            self.engine.as_str(),
            self.inner.visual_width(),
            self.inner.image_size()
        )
    }
}

/// A failed video's message as `avad extract` prints it under `failures:` (prefixed with the path unless the
/// message already starts with it).
fn video_err(video: &Path, e: impl Into<anyhow::Error>) -> PyErr {
    let msg = format!("{:#}", e.into());
    let name = video.display().to_string();
    AvadError::new_err(if msg.starts_with(&name) {
        msg
    } else {
        format!("{name}: {msg}")
    })
}

fn outcome_dict<'py>(py: Python<'py>, outcome: &VideoOutcome) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let m = outcome.marker();
    d.set_item("video", &m.video)?;
    d.set_item("outcome", outcome.as_str())?;
    let json = serde_json::to_string(m).map_err(avad_err)?;
    d.set_item("marker", json_to_py(py, &json)?)?;
    Ok(d)
}

/// A trained model: a checkpoint (``model.json`` / a training folder) or a model bundle (``bundle.json`` from
/// ``avad distill``: the teacher scores videos with audio, the visual student the others), as ``avad predict
/// --model`` takes it. Load with ``Model.load(path)``.
#[pyclass(module = "avad", frozen)]
struct Model {
    bundle: ModelBundle<B>,
    path: PathBuf,
}

#[pymethods]
impl Model {
    /// Loads a checkpoint or a bundle.
    ///
    /// Args:
    ///     path: ``model.json`` / ``best.json`` / ``last.json``, a training output folder, or a bundle JSON.
    ///     engine: ``"auto"`` (fast CPU kernels where the model allows, as the CLI), ``"fast"`` or
    ///         ``"reference"``.
    ///
    /// Raises:
    ///     AvadError: ``loading PATH: ...`` as ``avad predict`` says it.
    #[staticmethod]
    #[pyo3(signature = (path, engine = "auto"))]
    fn load(py: Python<'_>, path: PathBuf, engine: &str) -> PyResult<Self> {
        let engine = ModelEngine::parse(engine).map_err(|e| value_err(e.to_string()))?;
        let bundle = py.detach(|| load_bundle(&path, engine))?;
        Ok(Self { bundle, path })
    }

    /// The class names, column order of ``probs`` (index 0 = normal).
    #[getter]
    fn class_names(&self) -> Vec<String> {
        self.bundle.class_names().to_vec()
    }

    /// The roles of the loaded models (``teacher``, ``visual_student``, ``audio_student``, ``visual``).
    #[getter]
    fn members(&self) -> Vec<&'static str> {
        self.bundle
            .members
            .iter()
            .map(|m| m.role.as_str())
            .collect()
    }

    /// True when the file was a bundle (teacher + students), False for a single checkpoint.
    #[getter]
    fn is_bundle(&self) -> bool {
        self.bundle.is_bundle
    }

    /// The path it was loaded from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Scores one video's features as ``avad predict`` does (the official test-time chunking; with a bundle, the
    /// model is chosen by the audio: teacher when given and not silent, else the visual student).
    ///
    /// Args:
    ///     visual: [T, D] visual features (float32; other dtypes are converted).
    ///     audio: [T, 512] audio features, or None (no audio).
    ///     live_window: score with the live rule of ``avad watch`` (trailing window of W snippets) instead.
    ///     lookahead: live rule only: snippets of lookahead K (default 0).
    ///
    /// Returns:
    ///     dict: ``probs`` float32 [T, C] (softmax(logits2), column 0 = normal: the ``<video>.npy`` of ``avad
    ///     predict``), ``anomaly_score`` float32 [T] (C-branch sigmoid(logits1): ``c_branch/<video>.npy``),
    ///     ``audio_gate`` / ``audio_share`` float32 [T] or None, ``model`` (role that scored), ``reason`` (the
    ///     ``scored_by.csv`` reason), ``class_names``.
    ///
    /// Raises:
    ///     ValueError: arrays of the wrong shape. AvadError: the model cannot score them (e.g. a teacher without
    ///     audio), with the CLI's message.
    #[pyo3(signature = (visual, audio = None, live_window = None, lookahead = None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        visual: &Bound<'py, PyAny>,
        audio: Option<&Bound<'py, PyAny>>,
        live_window: Option<usize>,
        lookahead: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let rule = live_rule(live_window, lookahead)?;
        let visual = features_2d(visual, "visual")?;
        let audio = audio
            .filter(|a| !a.is_none())
            .map(|a| features_2d(a, "audio"))
            .transpose()?;
        let f = StoredFeatures::from_features("features", visual, audio)
            .map_err(|e| value_err(e.to_string()))?;
        let r = py
            .detach(|| match rule {
                None => self.bundle.score(&f),
                Some(rule) => self.bundle.score_live(&f, rule),
            })
            .map_err(avad_err)?;
        let s = r.scores;
        let d = PyDict::new(py);
        d.set_item("probs", array2(py, s.t, s.num_class, s.probs)?)?;
        d.set_item("anomaly_score", array1(py, s.prob1))?;
        match s.audio_gate {
            Some(g) => d.set_item("audio_gate", array1(py, g))?,
            None => d.set_item("audio_gate", py.None())?,
        }
        match s.audio_share {
            Some(g) => d.set_item("audio_share", array1(py, g))?,
            None => d.set_item("audio_share", py.None())?,
        }
        d.set_item("model", r.role.as_str())?;
        d.set_item("reason", r.reason)?;
        d.set_item("class_names", self.bundle.class_names().to_vec())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Model({:?}, members={:?}, classes={})",
            self.path.display().to_string(),
            self.members(),
            self.bundle.class_names().len()
        )
    }
}

/// `ModelBundle::load` with the CLI's context line, then the engine.
fn load_bundle(path: &Path, engine: ModelEngine) -> PyResult<ModelBundle<B>> {
    let mut bundle = ModelBundle::<B>::load(path, &burn_flex::FlexDevice)
        .map_err(|e| avad_err_ctx(e, format!("loading {}", path.display())))?;
    bundle
        .set_engine(engine)
        .map_err(|e| avad_err_ctx(e, format!("loading {}", path.display())))?;
    Ok(bundle)
}

/// Either a loaded object or one loaded now for this call.
enum Held<'a, T> {
    Borrowed(&'a T),
    Owned(T),
}

impl<T> std::ops::Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Held::Borrowed(t) => t,
            Held::Owned(t) => t,
        }
    }
}

/// One video → per-snippet anomaly scores, classes and events: ``avad detect VIDEO --json`` as a dict.
///
/// Args:
///     video: the video file.
///     model: a ``Model`` or the path of a checkpoint / bundle.
///     clip_model, wav2clip: encoder weights (when ``encoders`` is not given).
///     encoders: loaded ``Encoders`` (reused across calls instead of ``clip_model`` / ``wav2clip``).
///     threshold: anomaly-score threshold for events (0.5).
///     engine: ``auto`` / ``fast`` / ``reference`` for encoders and model loaded here.
///     stride, batch, max_snippets: frame sampling, as for extraction.
///     live_window, lookahead: replay the live rule of ``avad watch``.
///     csv, html: also write the CSV / HTML report to these files (as ``--csv`` / ``--html``).
///
/// Returns:
///     dict: the report, key for key the JSON of ``avad detect --json`` (``video``, ``model``, ``audio``,
///     ``audio_features``, ``threshold``, ``class_names``, ``snippets``, ``events``).
///
/// Raises:
///     AvadError: a file cannot be read or decoded (the message names it).
#[pyfunction]
#[pyo3(signature = (
    video, model, clip_model = None, wav2clip = None, *, encoders = None, threshold = 0.5, engine = "auto",
    stride = 16, batch = 8, max_snippets = None, live_window = None, lookahead = None, csv = None, html = None
))]
#[allow(clippy::too_many_arguments)]
fn detect<'py>(
    py: Python<'py>,
    video: PathBuf,
    model: &Bound<'py, PyAny>,
    clip_model: Option<PathBuf>,
    wav2clip: Option<PathBuf>,
    encoders: Option<&Bound<'py, Encoders>>,
    threshold: f32,
    engine: &str,
    stride: usize,
    batch: usize,
    max_snippets: Option<usize>,
    live_window: Option<usize>,
    lookahead: Option<usize>,
    csv: Option<PathBuf>,
    html: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let enc_engine = encoder_engine(engine)?;
    let model_engine = ModelEngine::parse(engine).map_err(|e| value_err(e.to_string()))?;
    let mut opts = feature_options(1, stride, max_snippets, batch)?;
    opts.thumbnails = html.is_some();
    let scoring = ScoreOptions {
        threshold,
        live: live_rule(live_window, lookahead)?,
    };
    let model_ref = model.cast::<Model>().ok().map(|m| m.get());
    let model_path: Option<PathBuf> = match model_ref {
        Some(_) => None,
        None => Some(model.extract().map_err(|_| {
            value_err("model must be an avad.Model or the path of a checkpoint or bundle")
        })?),
    };
    let enc_ref = encoders.map(|e| e.get());
    let enc_paths = match (enc_ref, clip_model, wav2clip) {
        (Some(_), _, _) => None,
        (None, Some(c), Some(w)) => Some((c, w)),
        (None, _, _) => {
            return Err(value_err(
                "detect needs encoders= or both clip_model= and wav2clip=",
            ))
        }
    };
    let json = py.detach(|| -> PyResult<String> {
        let bundle = match (model_ref, &model_path) {
            (Some(m), _) => Held::Borrowed(&m.bundle),
            (None, Some(p)) => Held::Owned(load_bundle(p, model_engine)?),
            (None, None) => unreachable!("one of the two is set above"),
        };
        let enc = match (enc_ref, &enc_paths) {
            (Some(e), _) => Held::Borrowed(&e.inner),
            (None, Some((c, w))) => Held::Owned(
                avad_pipeline::Encoders::<B>::load(c, w, &burn_flex::FlexDevice, enc_engine)
                    .map_err(avad_err)?,
            ),
            (None, None) => unreachable!("one of the two is set above"),
        };
        let report = avad_pipeline::detect::detect_with_model(
            &enc,
            &bundle,
            &video,
            &opts,
            &scoring,
            &mut |_| {},
        )
        .map_err(avad_err)?;
        if let Some(p) = &csv {
            avad_core::files::write_atomic(p, report.to_csv().as_bytes()).map_err(avad_err)?;
        }
        if let Some(p) = &html {
            avad_core::files::write_atomic(p, avad_pipeline::render_html(&report).as_bytes())
                .map_err(avad_err)?;
        }
        Ok(report.to_json())
    })?;
    json_to_py(py, &json)
}

/// The videos ``avad extract --videos`` takes from a folder (files with a video extension, not recursive) or a text
/// list (one path per line, relative to the list's folder, ``#`` comments), sorted by path.
#[pyfunction]
fn list_videos(videos: PathBuf) -> PyResult<Vec<PathBuf>> {
    avad_pipeline::list_videos(&videos)
        .map_err(|e| avad_err_ctx(e, format!("listing videos in {}", videos.display())))
}

/// The name a video's feature files get: its file stem.
#[pyfunction]
fn video_name(video: PathBuf) -> String {
    avad_pipeline::video_name(&video)
}

/// The verified done-marker of ``video`` in ``out`` (a dict), or None when it must be (re)done: the rule by
/// which ``avad extract`` skips finished videos (marker parses, same settings, every feature file of the right
/// shape).
#[pyfunction]
#[pyo3(signature = (out, video, crops = 1, stride = 16, max_snippets = None))]
fn verify_done<'py>(
    py: Python<'py>,
    out: PathBuf,
    video: PathBuf,
    crops: usize,
    stride: usize,
    max_snippets: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = feature_options(crops, stride, max_snippets, 1)?;
    let name = avad_pipeline::video_name(&video);
    match py.detach(|| avad_pipeline::verify_done(&out, &name, &opts)) {
        None => Ok(py.None().into_bound(py)),
        Some(m) => json_to_py(py, &serde_json::to_string(&m).map_err(avad_err)?),
    }
}

/// Writes ``out/list.csv`` and ``out/list_visual_only.csv`` as ``avad extract`` does at the end of a run, from the
/// verified done-markers of ``videos`` (all videos of the run, once every worker has finished).
///
/// Returns:
///     dict: ``list`` / ``visual_only_list`` (paths written, or None) and ``missing`` (names of videos without a
///     valid result).
#[pyfunction]
#[pyo3(signature = (out, videos, crops = 1, stride = 16, max_snippets = None))]
fn write_lists<'py>(
    py: Python<'py>,
    out: PathBuf,
    videos: Vec<PathBuf>,
    crops: usize,
    stride: usize,
    max_snippets: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = feature_options(crops, stride, max_snippets, 1)?;
    let (list, vo, missing) =
        py.detach(|| avad_pipeline::write_lists_for(&out, &videos, &opts).map_err(avad_err))?;
    let d = PyDict::new(py);
    d.set_item("list", list)?;
    d.set_item("visual_only_list", vo)?;
    d.set_item("missing", missing)?;
    Ok(d)
}

/// Sizes the process-wide CPU compute pool (the CLI's ``--threads``); only before the first computation, or to
/// the size it already has.
#[pyfunction]
fn set_threads(threads: usize) -> PyResult<()> {
    apply_threads(Some(threads))
}

/// Frame-level metrics and the full ``avad eval`` from scores in memory or on disk.
mod metrics {
    use super::*;

    /// Options of ``avad eval``'s flags.
    fn eval_options(
        snippet_frames: usize,
        classes: &str,
        lenient: bool,
        skip_empty_classes: bool,
    ) -> PyResult<EvalOptions> {
        if snippet_frames == 0 {
            return Err(value_err("snippet_frames must be at least 1"));
        }
        Ok(EvalOptions {
            snippet_frames,
            labels: LabelMap::by_name(classes).map_err(|e| value_err(e.to_string()))?,
            strictness: if lenient {
                Strictness::Lenient
            } else {
                Strictness::Strict
            },
            detection_map: DetectionMapOptions {
                empty_class_rule: if skip_empty_classes {
                    EmptyClassRule::SkipEmptyClasses
                } else {
                    EmptyClassRule::Official
                },
            },
        })
    }

    /// ``avad eval``: frame AP, ROC-AUC, PR-AUC and XD-Violence mAP@IoU of per-snippet scores.
    ///
    /// Args:
    ///     scores: a folder of ``<video>.npy`` files (what ``avad predict`` writes), or a mapping video name →
    ///         array, [T, C] class probabilities (column 0 = normal; anomaly = 1 - p0) or [T] anomaly scores.
    ///     list: the test list CSV (its videos are the ones scored, in its order).
    ///     annotations: ``annotations_multiclasses.txt`` (gives mAP) or ``annotations.txt``.
    ///     frame_annotations: take the frame labels from this file instead (the official XD-Violence protocol).
    ///     snippet_frames: frames per snippet (16; 4 for CCTV-Fights).
    ///     classes: label map ``xd``, ``ucf`` or ``cctv``.
    ///     lenient: list/annotation mismatches become notes instead of errors.
    ///     skip_empty_classes: mAP over the classes that have predictions instead of the official rule (mAP = 0
    ///         when any class has none).
    ///
    /// Returns:
    ///     dict: the JSON of ``avad eval --json`` (``ap``, ``auc``, ``pr_auc``, ``map``, ``map_avg``,
    ///     ``per_class_ap``, ``classes_without_prediction``, ``videos``, ``frames``, ``notes``).
    #[pyfunction]
    #[pyo3(signature = (
        scores, list, annotations, frame_annotations = None, *, snippet_frames = 16, classes = "xd",
        lenient = false, skip_empty_classes = false
    ))]
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate<'py>(
        py: Python<'py>,
        scores: &Bound<'py, PyAny>,
        list: PathBuf,
        annotations: PathBuf,
        frame_annotations: Option<PathBuf>,
        snippet_frames: usize,
        classes: &str,
        lenient: bool,
        skip_empty_classes: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts = eval_options(snippet_frames, classes, lenient, skip_empty_classes)?;
        let report = if let Ok(dict) = scores.cast::<PyDict>() {
            let mut arrays: HashMap<String, NpyArray> = HashMap::new();
            for (k, v) in dict.iter() {
                let name: String = k
                    .extract()
                    .map_err(|_| value_err("scores: keys must be video names (str)"))?;
                let a = f32_array(&v, &format!("scores[{name:?}]"))?;
                let shape = a.shape().to_vec();
                let data = a
                    .readonly()
                    .as_slice()
                    .map_err(|e| value_err(e.to_string()))?
                    .to_vec();
                arrays.insert(name, NpyArray { shape, data });
            }
            py.detach(|| {
                evaluate_with(
                    &mut |video| match arrays.remove(video) {
                        Some(a) => Ok((a, format!("scores[{video:?}]"))),
                        None => Err(avad_core::CoreError::Scores {
                            video: video.to_string(),
                            reason: "no scores given for it (the list names it)".into(),
                        }),
                    },
                    &list,
                    &annotations,
                    frame_annotations.as_deref(),
                    &opts,
                )
            })
            .map_err(|e| avad_err_ctx(e, "evaluating scores".into()))?
        } else {
            let dir: PathBuf = scores.extract().map_err(|_| {
                value_err("scores must be a folder of <video>.npy files or a dict of arrays")
            })?;
            py.detach(|| {
                evaluate_dir(
                    &dir,
                    &list,
                    &annotations,
                    frame_annotations.as_deref(),
                    &opts,
                )
            })
            .map_err(|e| avad_err_ctx(e, format!("evaluating scores in {}", dir.display())))?
        };
        json_to_py(py, &serde_json::to_string(&report).map_err(avad_err)?)
    }

    /// Frame labels (0/1) and scores as the metric functions take them.
    fn labels_scores(
        labels: &Bound<'_, PyAny>,
        scores: &Bound<'_, PyAny>,
    ) -> PyResult<(Vec<u8>, Vec<f64>)> {
        let np = labels.py().import("numpy")?;
        let l = np.call_method1("asarray", (labels, "uint8"))?;
        let l: Vec<u8> = np
            .call_method1("ravel", (l,))?
            .call_method0("tolist")?
            .extract()?;
        let s = np.call_method1("asarray", (scores, "float64"))?;
        let s: Vec<f64> = np
            .call_method1("ravel", (s,))?
            .call_method0("tolist")?
            .extract()?;
        if l.len() != s.len() {
            return Err(value_err(format!(
                "labels and scores differ in length: {} and {}",
                l.len(),
                s.len()
            )));
        }
        Ok((l, s))
    }

    /// `metric` (one of `avad_core::metrics`' frame metrics) of the frame `labels` and `scores` (see
    /// `labels_scores`), computed with the GIL released.
    fn frame_metric(
        py: Python<'_>,
        labels: &Bound<'_, PyAny>,
        scores: &Bound<'_, PyAny>,
        metric: fn(&[u8], &[f64]) -> avad_core::Result<f64>,
    ) -> PyResult<f64> {
        let (l, s) = labels_scores(labels, scores)?;
        py.detach(|| metric(&l, &s)).map_err(avad_err)
    }

    /// Average precision (sklearn ``average_precision_score``) of frame scores against 0/1 frame labels.
    #[pyfunction]
    pub fn average_precision(
        py: Python<'_>,
        labels: &Bound<'_, PyAny>,
        scores: &Bound<'_, PyAny>,
    ) -> PyResult<f64> {
        frame_metric(py, labels, scores, avad_core::metrics::average_precision)
    }

    /// ROC-AUC (sklearn ``roc_auc_score``) of frame scores against 0/1 frame labels.
    #[pyfunction]
    pub fn roc_auc(
        py: Python<'_>,
        labels: &Bound<'_, PyAny>,
        scores: &Bound<'_, PyAny>,
    ) -> PyResult<f64> {
        frame_metric(py, labels, scores, avad_core::metrics::roc_auc)
    }

    /// XD-Violence's PR-AUC (trapezoid area under ``precision_recall_curve``) of frame scores.
    #[pyfunction]
    pub fn pr_auc(
        py: Python<'_>,
        labels: &Bound<'_, PyAny>,
        scores: &Bound<'_, PyAny>,
    ) -> PyResult<f64> {
        frame_metric(py, labels, scores, avad_core::metrics::pr_auc)
    }
}

/// avad: audio-visual video anomaly detection (AVadCLIP) on a frozen CLIP: the native module of the ``avad``
/// package. Import ``avad``, not this module.
#[pymodule]
fn _avad(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AvadError", py.get_type::<AvadError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Encoders>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(detect, m)?)?;
    m.add_function(wrap_pyfunction!(list_videos, m)?)?;
    m.add_function(wrap_pyfunction!(video_name, m)?)?;
    m.add_function(wrap_pyfunction!(verify_done, m)?)?;
    m.add_function(wrap_pyfunction!(write_lists, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    let metrics = PyModule::new(py, "metrics")?;
    metrics.add_function(wrap_pyfunction!(metrics::evaluate, &metrics)?)?;
    metrics.add_function(wrap_pyfunction!(metrics::average_precision, &metrics)?)?;
    metrics.add_function(wrap_pyfunction!(metrics::roc_auc, &metrics)?)?;
    metrics.add_function(wrap_pyfunction!(metrics::pr_auc, &metrics)?)?;
    m.add_submodule(&metrics)?;
    Ok(())
}
