//! Label maps of the data sets (XD-Violence, UCF-Crime, CCTV-Fights_sub) and label strings → multi-hot vectors.

use crate::{CoreError, Result};

/// A data set's classes: short codes as they appear in lists and annotations, and the class names that become
/// CLIP text prompts. Index 0 is always the normal class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// Codes as in list label strings and annotations (`A`, `B1`, ...).
    pub codes: Vec<String>,
    /// Prompt words, one per code (`normal`, `fighting`, ...).
    pub names: Vec<String>,
    /// How list label strings are read.
    pub kind: LabelMapKind,
}

/// How a list's label column maps to classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelMapKind {
    /// XD-Violence: `B2-G-0` is split on `-`, every known code is set; `0` parts are ignored.
    XdMultiLabel,
    /// UCF-Crime: the label is one code (`Normal`, `Abuse`, ...).
    SingleCode,
    /// CCTV-Fights_sub as in the official code: `Normal` → class 0, anything else → class 1.
    NormalOrNot,
}

impl LabelMap {
    /// XD-Violence's 7 classes (`src/xd_train.py`): A normal, B1 fighting, B2 shooting, B4 riot, B5 abuse,
    /// B6 car accident, G explosion.
    pub fn xd_violence() -> Self {
        let pairs = [
            ("A", "normal"),
            ("B1", "fighting"),
            ("B2", "shooting"),
            ("B4", "riot"),
            ("B5", "abuse"),
            ("B6", "car accident"),
            ("G", "explosion"),
        ];
        Self::from_pairs(&pairs, LabelMapKind::XdMultiLabel)
    }

    /// UCF-Crime's 14 classes with the official prompt words (`src/ucf_train.py`).
    pub fn ucf_crime() -> Self {
        let pairs = [
            ("Normal", "normal"),
            ("Abuse", "abuse"),
            ("Arrest", "arrest"),
            ("Arson", "arson"),
            ("Assault", "assault"),
            ("Burglary", "burglary"),
            ("Explosion", "explosion"),
            ("Fighting", "fighting"),
            ("RoadAccidents", "roadAccidents"),
            ("Robbery", "robbery"),
            ("Shooting", "shooting"),
            ("Shoplifting", "shoplifting"),
            ("Stealing", "stealing"),
            ("Vandalism", "vandalism"),
        ];
        Self::from_pairs(&pairs, LabelMapKind::SingleCode)
    }

    /// CCTV-Fights_sub's 2 classes as used by the AVadCLIP mAP code (`A`, `B1`).
    pub fn cctv_fights() -> Self {
        Self::from_pairs(
            &[("A", "normal"), ("B1", "fighting")],
            LabelMapKind::NormalOrNot,
        )
    }

    /// Looks a label map up by name: `xd`, `ucf` or `cctv`.
    pub fn by_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "xd" | "xd-violence" => Ok(Self::xd_violence()),
            "ucf" | "ucf-crime" => Ok(Self::ucf_crime()),
            "cctv" | "cctv-fights" => Ok(Self::cctv_fights()),
            other => Err(CoreError::Invalid(format!(
                "unknown label map '{other}' (expected xd, ucf or cctv)"
            ))),
        }
    }

    fn from_pairs(pairs: &[(&str, &str)], kind: LabelMapKind) -> Self {
        Self {
            codes: pairs.iter().map(|p| p.0.to_string()).collect(),
            names: pairs.iter().map(|p| p.1.to_string()).collect(),
            kind,
        }
    }

    /// Number of classes, normal included.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Always false: a label map has at least the normal class.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Index of a class code (`B2` → 2 on XD), if known.
    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.codes.iter().position(|c| c == code)
    }

    /// A list label string as a multi-hot vector over the classes, as `get_batch_label` does. A string with no
    /// known code (or `A`/`Normal`) is normal: one-hot index 0.
    pub fn multi_hot(&self, label: &str) -> Vec<f32> {
        let mut v = vec![0.0; self.len()];
        match self.kind {
            LabelMapKind::XdMultiLabel => {
                for part in label.split('-') {
                    if let Some(i) = self.index_of(part) {
                        v[i] = 1.0;
                    }
                }
            }
            LabelMapKind::SingleCode => {
                if let Some(i) = self.index_of(label) {
                    v[i] = 1.0;
                }
            }
            LabelMapKind::NormalOrNot => {
                let i = usize::from(label != "Normal" && label != "A");
                v[i] = 1.0;
            }
        }
        if v.iter().all(|&x| x == 0.0) {
            v[0] = 1.0;
        }
        v
    }

    /// True when the label string names no anomaly class.
    pub fn is_normal(&self, label: &str) -> bool {
        let v = self.multi_hot(label);
        v[0] == 1.0 && v[1..].iter().all(|&x| x == 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xd_label_strings_become_multi_hot() {
        let m = LabelMap::xd_violence();
        assert_eq!(m.multi_hot("B2-G-0"), vec![0., 0., 1., 0., 0., 0., 1.]);
        assert_eq!(m.multi_hot("A"), vec![1., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(m.multi_hot("B1-0-0"), vec![0., 1., 0., 0., 0., 0., 0.]);
        assert!(m.is_normal("A"));
        assert!(!m.is_normal("B6-0-0"));
    }

    #[test]
    fn ucf_and_cctv_maps() {
        let u = LabelMap::ucf_crime();
        assert_eq!(u.len(), 14);
        assert_eq!(u.multi_hot("Arson")[3], 1.0);
        assert!(u.is_normal("Normal"));
        let c = LabelMap::cctv_fights();
        assert_eq!(c.multi_hot("Fight"), vec![0., 1.]);
        assert_eq!(c.multi_hot("Normal"), vec![1., 0.]);
        assert!(LabelMap::by_name("nope").is_err());
    }
}
