//! Weight names, declared once per module. A module implements [`VisitWeights`]: one `visit_weights` function
//! hands each of its parameters to a [`WeightVisitor`] under the key the weight files use. The same function serves
//! loading (each parameter replaced by the stored tensor after a shape check against the parameter's own shape;
//! missing tensors are errors, unused keys are reported) and saving (each parameter written as f32).
//!
//! ```ignore
//! impl<B: Backend> VisitWeights for Linear<B> {
//!     fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
//!         v.param("weight", &mut self.weight);
//!         if let Some(b) = &mut self.bias {
//!             v.param("bias", b);
//!         }
//!     }
//! }
//! ```

use std::collections::BTreeSet;

use burn::module::Param;
use burn::tensor::{backend::Backend, Tensor, TensorData};

use crate::error::{NnError, Result};
use crate::weights::{check_shape, WeightMap};

/// A module whose weights have names: the one place they are written.
pub trait VisitWeights {
    /// Hands every parameter to `v` under its key relative to the module (nested modules through
    /// [`WeightVisitor::nested`]).
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>);
}

impl<T: VisitWeights> VisitWeights for Option<T> {
    fn visit_weights(&mut self, v: &mut WeightVisitor<'_>) {
        if let Some(m) = self {
            m.visit_weights(v);
        }
    }
}

/// What a load left over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Keys of the weight map (under the load's prefix) that no parameter used, sorted.
    pub unused_keys: Vec<String>,
}

enum Mode<'a> {
    Load {
        from: &'a WeightMap,
        used: BTreeSet<String>,
        missing: Vec<String>,
        error: Option<NnError>,
    },
    Save {
        into: WeightMap,
    },
    List {
        shapes: Vec<(String, Vec<usize>)>,
    },
}

/// Walks a module's parameters by name, loading them from or saving them into a [`WeightMap`].
pub struct WeightVisitor<'a> {
    /// The key prefixes in force (more than one inside [`WeightVisitor::nested_aliases`]).
    prefixes: Vec<String>,
    mode: Mode<'a>,
}

impl<'a> WeightVisitor<'a> {
    /// A visitor that replaces each parameter by the tensor stored under `prefix` + its key.
    pub fn loading(from: &'a WeightMap, prefix: &str) -> Self {
        Self {
            prefixes: vec![prefix.to_string()],
            mode: Mode::Load {
                from,
                used: BTreeSet::new(),
                missing: Vec::new(),
                error: None,
            },
        }
    }

    /// A visitor that writes each parameter as f32 under `prefix` + its key.
    pub fn saving(prefix: &str) -> WeightVisitor<'static> {
        WeightVisitor {
            prefixes: vec![prefix.to_string()],
            mode: Mode::Save {
                into: WeightMap::new(),
            },
        }
    }

    /// A visitor that only records each parameter's key and shape (reading no values).
    pub fn listing(prefix: &str) -> WeightVisitor<'static> {
        WeightVisitor {
            prefixes: vec![prefix.to_string()],
            mode: Mode::List { shapes: Vec::new() },
        }
    }

    /// True when loading (a module may have keys that only exist in some files, see [`WeightVisitor::contains`]).
    pub fn is_loading(&self) -> bool {
        matches!(self.mode, Mode::Load { .. })
    }

    /// Whether the weight map being loaded has `name` (relative key); always false when saving.
    pub fn contains(&self, name: &str) -> bool {
        match &self.mode {
            Mode::Load { from, .. } => self.keys(name).iter().any(|k| from.contains(k)),
            Mode::Save { .. } | Mode::List { .. } => false,
        }
    }

    fn keys(&self, name: &str) -> Vec<String> {
        self.prefixes.iter().map(|p| format!("{p}{name}")).collect()
    }

    /// Visits a nested module under `name.` (an empty name adds nothing).
    pub fn nested(&mut self, name: &str, module: &mut impl VisitWeights) {
        self.scope(name, |v| module.visit_weights(v));
    }

    /// Visits a nested module stored under several equivalent names (PyTorch registers a module shared by two
    /// containers under both): loading takes each tensor from the first name that has it and counts all as used;
    /// saving writes every name.
    pub fn nested_aliases(&mut self, names: &[&str], module: &mut impl VisitWeights) {
        let saved = std::mem::take(&mut self.prefixes);
        self.prefixes = saved
            .iter()
            .flat_map(|p| names.iter().map(move |n| format!("{p}{n}.")))
            .collect();
        module.visit_weights(self);
        self.prefixes = saved;
    }

    /// Runs `f` with `name.` appended to the key prefix.
    pub fn scope(&mut self, name: &str, f: impl FnOnce(&mut Self)) {
        if name.is_empty() {
            return f(self);
        }
        let saved = self.prefixes.clone();
        for p in &mut self.prefixes {
            p.push_str(name);
            p.push('.');
        }
        f(self);
        self.prefixes = saved;
    }

    /// A parameter stored under `name`.
    pub fn param<B: Backend, const D: usize>(&mut self, name: &str, p: &mut Param<Tensor<B, D>>) {
        let keys = self.keys(name);
        self.apply(keys, p);
    }

    /// A parameter that older files may lack: loading keeps its current value when the key is absent.
    pub fn optional_param<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        p: &mut Param<Tensor<B, D>>,
    ) {
        if !self.is_loading() || self.contains(name) {
            self.param(name, p);
        }
    }

    /// Loads `p` from the first of `keys` present, or saves it under every key.
    fn apply<B: Backend, const D: usize>(
        &mut self,
        keys: Vec<String>,
        p: &mut Param<Tensor<B, D>>,
    ) {
        match &mut self.mode {
            Mode::List { shapes } => {
                let shape = p.lazy_shape().dims::<D>().to_vec();
                shapes.extend(keys.into_iter().map(|k| (k, shape.clone())));
            }
            Mode::Save { into } => {
                let data = p.val().into_data().convert::<f32>();
                for k in keys {
                    into.insert(k, data.clone());
                }
            }
            Mode::Load {
                from,
                used,
                missing,
                error,
            } => {
                let Some(key) = keys.iter().find(|k| from.contains(k)) else {
                    missing.push(keys[0].clone());
                    return;
                };
                if error.is_some() {
                    return;
                }
                let expected = p.lazy_shape().dims::<D>();
                let got = from.shape(key).unwrap_or_default();
                let values = check_shape(key, &got, &expected, from.source())
                    .and_then(|_| from.f32_values(key));
                match values {
                    Ok(values) => {
                        let device = p.lazy_device();
                        let t =
                            Tensor::<B, D>::from_data(TensorData::new(values, expected), &device);
                        let id = p.id;
                        *p = p.clone().transform_for_load(t, id);
                        used.extend(keys.iter().filter(|k| from.contains(k)).cloned());
                    }
                    Err(e) => *error = Some(e),
                }
            }
        }
    }

    /// Ends a load: every missing key in one error, else the first mis-shaped or unreadable tensor, else the
    /// keys under the load's prefix that nothing used.
    pub fn finish(self) -> Result<LoadReport> {
        match self.mode {
            Mode::Load {
                from,
                used,
                mut missing,
                error,
            } => match (missing.len(), error) {
                (1, _) => Err(from.missing(&missing[0])),
                (n, _) if n > 1 => Err(NnError::MissingTensors {
                    names: std::mem::take(&mut missing),
                    source_file: from.source().to_string(),
                }),
                (_, Some(e)) => Err(e),
                (_, None) => Ok(LoadReport {
                    unused_keys: from
                        .keys()
                        .filter(|k| k.starts_with(&self.prefixes[0]) && !used.contains(*k))
                        .map(String::from)
                        .collect(),
                }),
            },
            Mode::Save { .. } | Mode::List { .. } => Ok(LoadReport::default()),
        }
    }

    /// Ends a save: the weights written (empty when loading).
    pub fn into_weights(self) -> WeightMap {
        match self.mode {
            Mode::Save { into } => into,
            Mode::Load { .. } | Mode::List { .. } => WeightMap::default(),
        }
    }
}

/// Loads every parameter of `module` from `from`, keys under `prefix` (e.g. `"clipmodel."`, or `""`).
pub fn load_weights(
    module: &mut impl VisitWeights,
    from: &WeightMap,
    prefix: &str,
) -> Result<LoadReport> {
    let mut v = WeightVisitor::loading(from, prefix);
    module.visit_weights(&mut v);
    v.finish()
}

/// Every parameter of `module` as f32 under `prefix` + its key. Parameters are shared, not copied: the clone is
/// only what `visit_weights` needs to borrow mutably.
pub fn save_weights<M: VisitWeights + Clone>(module: &M, prefix: &str) -> WeightMap {
    let mut v = WeightVisitor::saving(prefix);
    module.clone().visit_weights(&mut v);
    v.into_weights()
}

/// The key and shape of every parameter of `module` under `prefix`, in visiting order, without reading values.
pub fn weight_shapes(module: &mut impl VisitWeights, prefix: &str) -> Vec<(String, Vec<usize>)> {
    let mut v = WeightVisitor::listing(prefix);
    module.visit_weights(&mut v);
    match v.mode {
        Mode::List { shapes } => shapes,
        _ => unreachable!("a listing visitor"),
    }
}
