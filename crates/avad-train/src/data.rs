//! Training data: rows (one per list line, i.e. per video crop) with their multi-hot labels and features, the
//! official batching (XD mixed / UCF paired, seeded shuffles) and the by-video stratified validation split.
//!
//! Features are held as [`Sample`]s already passed through `process_feat` (length `visual_length`, zero padded,
//! with the true length). Rows either carry their sample in memory or load it on demand through a
//! [`FeatureLoader`] (the list-file loader in `lists.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::Batching;
use crate::error::{Result, TrainError};

/// One training input after `process_feat`: `[T, D]` visual and audio rows, zero padded to T.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Row-major `[T, D]` visual features.
    pub visual: Vec<f32>,
    /// Row-major `[T, Da]` audio features (audio models only).
    pub audio: Option<Vec<f32>>,
    /// Valid length (1..=T).
    pub length: usize,
}

/// Loads the [`Sample`] of a row on demand (e.g. from `.npy` files).
pub trait FeatureLoader: Send + Sync {
    /// The processed features of `row`.
    fn load(&self, row: &Row) -> Result<Sample>;
}

/// One line of a training list.
#[derive(Debug, Clone)]
pub struct Row {
    /// Video identifier shared by all crops of a video (used for the validation split).
    pub video: String,
    /// Human-readable source (e.g. the feature path), for errors.
    pub source: String,
    /// Visual feature file (rows loaded on demand).
    pub visual_path: Option<std::path::PathBuf>,
    /// Audio feature file (rows loaded on demand, audio models).
    pub audio_path: Option<std::path::PathBuf>,
    /// Multi-hot labels `[C]` (index 0 = normal).
    pub labels: Vec<f32>,
    /// The features, when held in memory.
    pub sample: Option<Arc<Sample>>,
}

impl Row {
    /// True when the row is abnormal (`labels[0] == 0`).
    pub fn is_abnormal(&self) -> bool {
        self.labels.first().copied().unwrap_or(0.0) == 0.0
    }
}

/// A set of rows plus the shapes every sample must have.
#[derive(Clone)]
pub struct Dataset {
    /// The rows, in list order.
    pub rows: Vec<Row>,
    /// Padded length T.
    pub visual_length: usize,
    /// Visual width D.
    pub visual_width: usize,
    /// Audio width (None for visual-only data).
    pub audio_width: Option<usize>,
    /// Number of classes C.
    pub num_class: usize,
    loader: Option<Arc<dyn FeatureLoader>>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("rows", &self.rows.len())
            .field("visual_length", &self.visual_length)
            .field("visual_width", &self.visual_width)
            .field("audio_width", &self.audio_width)
            .field("num_class", &self.num_class)
            .finish()
    }
}

/// One batch as tensors.
#[derive(Debug, Clone)]
pub struct Batch<B: Backend> {
    /// [B, T, D]
    pub visual: Tensor<B, 3>,
    /// [B, T, Da]
    pub audio: Option<Tensor<B, 3>>,
    /// Valid lengths, one per row.
    pub lengths: Vec<usize>,
    /// Multi-hot labels [B, C].
    pub labels: Tensor<B, 2>,
}

impl Dataset {
    /// A dataset whose rows all carry their samples (or load them with `loader`).
    pub fn new(
        rows: Vec<Row>,
        visual_length: usize,
        visual_width: usize,
        audio_width: Option<usize>,
        num_class: usize,
        loader: Option<Arc<dyn FeatureLoader>>,
    ) -> Result<Self> {
        for r in &rows {
            if r.labels.len() != num_class {
                return Err(TrainError::Data(format!(
                    "{}: {} labels, expected {num_class}",
                    r.source,
                    r.labels.len()
                )));
            }
            if r.labels.iter().all(|&x| x == 0.0) {
                return Err(TrainError::Data(format!(
                    "{}: label vector is all zero",
                    r.source
                )));
            }
            if r.sample.is_none() && loader.is_none() {
                return Err(TrainError::Data(format!(
                    "{}: no features and no loader",
                    r.source
                )));
            }
        }
        Ok(Self {
            rows,
            visual_length,
            visual_width,
            audio_width,
            num_class,
            loader,
        })
    }

    /// The same loader and shapes over a subset of the rows.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            rows: idx.iter().map(|&i| self.rows[i].clone()).collect(),
            ..self.clone()
        }
    }

    /// The same rows without the audio features (what a visual-only model reads from audio-visual data).
    pub fn visual_only(&self) -> Self {
        Self {
            audio_width: None,
            ..self.clone()
        }
    }

    /// The same rows with the audio features in the visual slot and no audio: the input of the audio-only
    /// student. Errors when the data has no audio.
    pub fn audio_as_visual(&self) -> Result<Self> {
        let da = self
            .audio_width
            .ok_or_else(|| TrainError::Data("the data has no audio features".into()))?;
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Some(s) = &r.sample {
                    r.sample = Some(Arc::new(swap_audio(s, &r.source)?));
                }
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            rows,
            visual_width: da,
            audio_width: None,
            loader: self
                .loader
                .clone()
                .map(|l| Arc::new(AudioAsVisual(l)) as Arc<dyn FeatureLoader>),
            ..self.clone()
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The sample of row `i` (from memory, else through the loader), with its shapes checked.
    pub fn sample(&self, i: usize) -> Result<Arc<Sample>> {
        let row = &self.rows[i];
        let s = match (&row.sample, &self.loader) {
            (Some(s), _) => s.clone(),
            (None, Some(l)) => Arc::new(l.load(row)?),
            (None, None) => return Err(TrainError::Data(format!("{}: no features", row.source))),
        };
        let (t, d) = (self.visual_length, self.visual_width);
        if s.visual.len() != t * d || s.length == 0 || s.length > t {
            return Err(TrainError::Data(format!(
                "{}: visual has {} values and length {}, expected [{t}, {d}] with length 1..={t}",
                row.source,
                s.visual.len(),
                s.length
            )));
        }
        match (self.audio_width, &s.audio) {
            (Some(da), Some(a)) if a.len() == t * da => {}
            (Some(da), Some(a)) => {
                return Err(TrainError::Data(format!(
                    "{}: audio has {} values, expected [{t}, {da}]",
                    row.source,
                    a.len()
                )))
            }
            (Some(_), None) => {
                return Err(TrainError::Data(format!(
                    "{}: audio features are missing",
                    row.source
                )))
            }
            (None, _) => {}
        }
        Ok(s)
    }

    /// The samples of rows `idx`, in order; rows that are not in memory are read on all cores (a batch of 96
    /// official-size rows is ≈ 100 MB of `.npy` files to read and resample).
    pub fn samples(&self, idx: &[usize]) -> Result<Vec<Arc<Sample>>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || idx.len() < 2 || idx.iter().all(|&i| self.rows[i].sample.is_some()) {
            return idx.iter().map(|&i| self.sample(i)).collect();
        }
        let chunk = idx.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = idx
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|&i| self.sample(i))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(idx.len());
            for p in parts {
                out.extend(
                    p.join().map_err(|_| {
                        TrainError::Data("a feature-loading thread panicked".into())
                    })??,
                );
            }
            Ok(out)
        })
    }

    /// Stacks rows `idx` into a batch on `device`.
    pub fn batch<B: Backend>(&self, idx: &[usize], device: &B::Device) -> Result<Batch<B>> {
        let (t, d, c) = (self.visual_length, self.visual_width, self.num_class);
        let b = idx.len();
        let mut visual = Vec::with_capacity(b * t * d);
        let mut audio = self.audio_width.map(|da| Vec::with_capacity(b * t * da));
        let mut lengths = Vec::with_capacity(b);
        let mut labels = Vec::with_capacity(b * c);
        for (&i, s) in idx.iter().zip(self.samples(idx)?) {
            visual.extend_from_slice(&s.visual);
            if let (Some(a), Some(sa)) = (audio.as_mut(), s.audio.as_ref()) {
                a.extend_from_slice(sa);
            }
            lengths.push(s.length);
            labels.extend_from_slice(&self.rows[i].labels);
        }
        Ok(Batch {
            visual: Tensor::from_data(TensorData::new(visual, [b, t, d]), device),
            audio: audio
                .zip(self.audio_width)
                .map(|(a, da)| Tensor::from_data(TensorData::new(a, [b, t, da]), device)),
            lengths,
            labels: Tensor::from_data(TensorData::new(labels, [b, c]), device),
        })
    }
}

fn swap_audio(s: &Sample, source: &str) -> Result<Sample> {
    Ok(Sample {
        visual: s
            .audio
            .clone()
            .ok_or_else(|| TrainError::Data(format!("{source}: audio features are missing")))?,
        audio: None,
        length: s.length,
    })
}

/// Loads through an inner loader and moves the audio features into the visual slot.
struct AudioAsVisual(Arc<dyn FeatureLoader>);

impl FeatureLoader for AudioAsVisual {
    fn load(&self, row: &Row) -> Result<Sample> {
        swap_audio(&self.0.load(row)?, &row.source)
    }
}

/// A reproducible RNG for purpose `stream` (e.g. 1 = shuffling) of epoch `epoch` under `seed`.
pub fn rng_for(seed: u64, stream: u64, epoch: u64) -> ChaCha8Rng {
    let mut s = ChaCha8Rng::seed_from_u64(seed);
    s.set_stream(stream);
    s.set_word_pos(u128::from(epoch) << 64);
    s
}

/// The batches (row indices into `data`) of epoch `epoch`, as the official loaders draw them.
///
/// * [`Batching::Mixed`]: one shuffled permutation of all rows cut into batches of `batch_size`; the last batch
///   may be smaller (no `drop_last`).
/// * [`Batching::Paired`]: normal and abnormal rows shuffled separately, batches of `batch_size` of each with
///   `drop_last`, `normal ++ abnormal` per step; the epoch has as many steps as the shorter side allows.
///
/// The shuffles depend only on `(seed, epoch)`, so a resumed run sees exactly the batches of the original one.
pub fn epoch_batches(
    data: &Dataset,
    batching: Batching,
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let mut rng = rng_for(seed, 1, epoch as u64);
    match batching {
        Batching::Mixed => {
            let mut idx: Vec<usize> = (0..data.len()).collect();
            idx.shuffle(&mut rng);
            idx.chunks(batch_size).map(<[usize]>::to_vec).collect()
        }
        Batching::Paired => {
            let (mut normal, mut abnormal): (Vec<usize>, Vec<usize>) =
                (0..data.len()).partition(|&i| !data.rows[i].is_abnormal());
            normal.shuffle(&mut rng);
            abnormal.shuffle(&mut rng);
            normal
                .chunks_exact(batch_size)
                .zip(abnormal.chunks_exact(batch_size))
                .map(|(n, a)| n.iter().chain(a).copied().collect())
                .collect()
        }
    }
}

/// Splits `data` by video into (train, validation): a fraction `fraction` of the normal videos and the same
/// fraction of the abnormal videos (each rounded, at least one of each kind when the kind has ≥ 2 videos) go to
/// validation, chosen by a seeded shuffle. All crops of a video land on the same side. Returns row indices.
pub fn split_by_video(data: &Dataset, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    if fraction <= 0.0 {
        return ((0..data.len()).collect(), Vec::new());
    }
    // Videos in first-seen order, with their kind (abnormal if any crop is).
    let mut order: Vec<&str> = Vec::new();
    let mut kind: BTreeMap<&str, bool> = BTreeMap::new();
    for r in &data.rows {
        let e = kind.entry(r.video.as_str()).or_insert_with(|| {
            order.push(r.video.as_str());
            false
        });
        *e |= r.is_abnormal();
    }
    let mut rng = rng_for(seed, 2, 0);
    let mut val = std::collections::BTreeSet::new();
    for abnormal in [false, true] {
        let mut vids: Vec<&str> = order
            .iter()
            .copied()
            .filter(|v| kind[v] == abnormal)
            .collect();
        if vids.len() < 2 {
            continue;
        }
        vids.shuffle(&mut rng);
        let n = ((vids.len() as f64 * fraction).round() as usize).clamp(1, vids.len() - 1);
        val.extend(vids.into_iter().take(n));
    }
    (0..data.len()).partition(|&i| !val.contains(data.rows[i].video.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n_normal: usize, n_abnormal: usize, crops: usize) -> Dataset {
        let mut rows = Vec::new();
        for v in 0..(n_normal + n_abnormal) {
            let abnormal = v >= n_normal;
            for c in 0..crops {
                rows.push(Row {
                    video: format!("v{v}"),
                    source: format!("v{v}__{c}"),
                    visual_path: None,
                    audio_path: None,
                    labels: if abnormal {
                        vec![0.0, 1.0]
                    } else {
                        vec![1.0, 0.0]
                    },
                    sample: Some(Arc::new(Sample {
                        visual: vec![v as f32; 4 * 2],
                        audio: None,
                        length: 3,
                    })),
                });
            }
        }
        Dataset::new(rows, 4, 2, None, 2, None).unwrap()
    }

    #[test]
    fn mixed_batches_cover_all_rows_once_and_depend_on_epoch() {
        let d = toy(7, 5, 2);
        let b0 = epoch_batches(&d, Batching::Mixed, 5, 1, 0);
        assert_eq!(
            b0.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![5, 5, 5, 5, 4]
        );
        let mut all: Vec<usize> = b0.concat();
        all.sort();
        assert_eq!(all, (0..24).collect::<Vec<_>>());
        assert_eq!(
            b0,
            epoch_batches(&d, Batching::Mixed, 5, 1, 0),
            "same seed and epoch → same batches"
        );
        assert_ne!(b0, epoch_batches(&d, Batching::Mixed, 5, 1, 1));
        assert_ne!(b0, epoch_batches(&d, Batching::Mixed, 5, 2, 0));
    }

    #[test]
    fn paired_batches_drop_last_and_put_normal_first() {
        let d = toy(7, 5, 1);
        let b = epoch_batches(&d, Batching::Paired, 2, 3, 0);
        assert_eq!(b.len(), 2, "5 abnormal rows / 2 with drop_last");
        for batch in &b {
            assert_eq!(batch.len(), 4);
            assert!(!d.rows[batch[0]].is_abnormal() && !d.rows[batch[1]].is_abnormal());
            assert!(d.rows[batch[2]].is_abnormal() && d.rows[batch[3]].is_abnormal());
        }
    }

    #[test]
    fn split_is_by_video_and_stratified() {
        let d = toy(20, 10, 3);
        let (tr, va) = split_by_video(&d, 0.1, 9);
        assert_eq!(tr.len() + va.len(), 90);
        let vids = |ix: &[usize]| {
            ix.iter()
                .map(|&i| d.rows[i].video.clone())
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert!(vids(&tr).is_disjoint(&vids(&va)));
        let val_ab = va.iter().filter(|&&i| d.rows[i].is_abnormal()).count();
        assert_eq!((va.len() - val_ab) / 3, 2, "10% of 20 normal videos");
        assert_eq!(val_ab / 3, 1, "10% of 10 abnormal videos");
        assert_eq!(split_by_video(&d, 0.1, 9), (tr, va));
    }

    #[test]
    fn audio_view_moves_audio_into_the_visual_slot() {
        let mut d = toy(1, 1, 1);
        for (i, r) in d.rows.iter_mut().enumerate() {
            r.sample = Some(Arc::new(Sample {
                visual: vec![1.0; 8],
                audio: Some(vec![2.0 + i as f32; 12]),
                length: 3,
            }));
        }
        d.audio_width = Some(3);
        let a = d.audio_as_visual().unwrap();
        assert_eq!((a.visual_width, a.audio_width), (3, None));
        let b = a
            .batch::<burn_flex::Flex>(&[1], &Default::default())
            .unwrap();
        assert_eq!(b.visual.dims(), [1, 4, 3]);
        assert!(b.audio.is_none());
        assert_eq!(b.visual.to_data().to_vec::<f32>().unwrap()[0], 3.0);
        let v = d.visual_only();
        assert!(v
            .batch::<burn_flex::Flex>(&[0], &Default::default())
            .unwrap()
            .audio
            .is_none());
        assert!(toy(1, 1, 1).audio_as_visual().is_err(), "no audio");
    }

    #[test]
    fn batch_stacks_rows() {
        let d = toy(2, 1, 1);
        let b = d
            .batch::<burn_flex::Flex>(&[2, 0], &Default::default())
            .unwrap();
        assert_eq!(b.visual.dims(), [2, 4, 2]);
        assert_eq!(b.lengths, vec![3, 3]);
        assert_eq!(
            b.labels.to_data().to_vec::<f32>().unwrap(),
            vec![0.0, 1.0, 1.0, 0.0]
        );
        assert_eq!(b.visual.to_data().to_vec::<f32>().unwrap()[0], 2.0);
    }
}
